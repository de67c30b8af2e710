"""A change in words for the people who approve it (issue 19): deadlines, steps, roles,
routes and form fields, as a quality engineer would write them."""

from __future__ import annotations

from pathlib import Path

from engine import i18n
from engine.language import yaml_edit
from engine.language.change_summary import summarize
from engine.language.procedure import compile_stored

ROOT = Path(__file__).parents[2]
PID = "after-sales-inspection"


def _compile(source: str, forms: dict[str, str] | None = None):
    library = {p.stem: p.read_text(encoding="utf-8") for p in (ROOT / "forms").glob("*.yaml")}
    return compile_stored(source, f"{PID}.yaml", {**library, **(forms or {})})


def test_a_change_in_words():
    source = (ROOT / "procedures" / f"{PID}.yaml").read_text(encoding="utf-8")
    form = (ROOT / "forms" / "after-sales-inspection-result.yaml").read_text(encoding="utf-8")
    changed = source.replace("title: 产品检验\n", "title: 产品检验与测试\n", 1)
    changed = yaml_edit.rename_step(changed, "feedback", "feedback")  # a no-op rename changes nothing
    changed = yaml_edit.delete_step(changed, "feedback")
    changed = changed.replace("      within: 3wd", "      within: 2wd", 1)
    new_form = yaml_edit.add_field(form, "voltage", required=True, type="number", title="电源电压", unit="V",
                                   minimum=210, maximum=230)
    old, new = _compile(source), _compile(changed, {"after-sales-inspection-result": new_form})
    i18n.set_locale("zh")  # the autouse fixture puts the default back
    lines = summarize(old, new)
    text = "\n".join(lines)
    assert any("产品检验 → 产品检验与测试" in line for line in lines), text
    assert any(line.startswith("删除步骤 ") for line in lines), text
    assert any("3wd → 2wd" in line for line in lines), text
    assert "表单 售后产品检验记录 增加字段 电源电压" in lines or any("增加字段 电源电压" in line for line in lines), text
    assert not any(line.startswith("步骤 接收产品 的去向") for line in lines), text  # same step, new title
    assert summarize(old, _compile(source)) == []  # the same text: nothing to say
