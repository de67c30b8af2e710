"""Visual edits change only the lines they must; comments and layout of the rest stay."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from engine.language import yaml_source as yamlsrc
from engine.language.forms import parse_form
from engine.language.procedure import load_library, parse_procedure
from engine.language.yaml_edit import (
    EditError,
    add_field,
    add_step,
    move_field,
    remove_field,
    round_trip,
    update_field,
)

ROOT = Path(__file__).resolve().parents[2]
FORM = (ROOT / "forms" / "after-sales-inspection-result.yaml").read_text(encoding="utf-8")
PROC = (ROOT / "procedures" / "after-sales-inspection.yaml").read_text(encoding="utf-8")


def changes(old: str, new: str) -> tuple[list[str], list[str]]:
    """(removed lines, added lines)."""
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def comments(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if "#" in ln]


@pytest.mark.parametrize("path", sorted((ROOT / "procedures").glob("*.yaml")) + sorted((ROOT / "forms").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_files_round_trip_unchanged(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert round_trip(text) == text


def test_add_field_with_limits_adds_its_lines_and_the_required_entry_only() -> None:
    new = add_field(FORM, "voltage", type="number", title="电源电压", unit="V", minimum=210, maximum=230,
                    required=True, after="ambient_humidity")
    removed, added = changes(FORM, new)
    assert removed == ["  required: [items, instrument, inspector, inspected_at, verdict, defect]"]
    assert added == ["  required: [items, instrument, inspector, inspected_at, verdict, defect, voltage]",
                     "    voltage:", "      type: number", "      title: 电源电压", "      x-unit: V",
                     "      x-limits: {min: 210, max: 230}"]
    assert comments(new) == comments(FORM)
    form, problems = parse_form(yamlsrc.load(new, "forms/after-sales-inspection-result.yaml"))
    assert problems == [] and form.fields["voltage"].limits == (210, 230)


def test_add_options_visibility_and_repeating_table() -> None:
    new = add_field(FORM, "parts", type="table", title="更换部件", visible_if='verdict == "不合格"',
                    columns=[{"name": "part", "type": "string", "title": "部件", "options": ["电源板", "主板"]},
                             {"name": "qty", "type": "integer", "title": "数量", "minimum": 1}])
    removed, added = changes(FORM, new)
    assert removed == []
    assert added[0] == "    parts:" and "          part: {type: string, title: 部件, enum: [电源板, 主板]}" in added
    form, problems = parse_form(yamlsrc.load(new, "forms/after-sales-inspection-result.yaml"))
    assert problems == [], problems
    assert form.fields["parts"].visible_if == 'verdict == "不合格"'


def test_reorder_and_remove_touch_only_that_field() -> None:
    moved = move_field(FORM, "instrument", 1)
    removed, added = changes(FORM, moved)
    assert sorted(removed) == sorted(added)  # same lines, other place
    assert comments(moved) == comments(FORM)
    gone = remove_field(FORM, "defect")
    removed, added = changes(FORM, gone)
    assert added == ["  required: [items, instrument, inspector, inspected_at, verdict]"]
    assert "    defect:" in removed and len(removed) == 7


def test_add_step_after_another_rewires_next_and_keeps_blank_lines_and_comments() -> None:
    new = add_step(PROC, "double_check", title="复核", role="qa_supervisor", form="inspection-report",
                   within="1wd", escalate="quality_manager", after="receive")
    removed, added = changes(PROC, new)
    assert removed == []  # the old `next: inspect` line moves to the new step; ndiff shows it kept
    assert added == ["    next: double_check", "", "  double_check:", "    title: 复核", "    role: qa_supervisor",
                     "    form: inspection-report", "    deadline:", "      within: 1wd",
                     "      escalate: quality_manager"]
    assert comments(new) == comments(PROC)
    lib = load_library([ROOT / "forms"])
    proc, problems = parse_procedure(yamlsrc.load(new, "procedures/after-sales-inspection.yaml"), lib.forms)
    assert problems == [], problems
    assert proc.steps["receive"].targets == ("double_check",)
    assert proc.steps["double_check"].targets == ("inspect",)


def test_add_step_with_conditions() -> None:
    new = add_step(PROC, "recheck", title="再检", role="inspector", form="after-sales-inspection-result",
                   next=[{"if": 'recheck.verdict == "合格"', "goto": "report"}, {"else": "nonconforming"}])
    assert new.startswith(PROC.rstrip("\n"))
    assert new.endswith('    next:\n      - if: recheck.verdict == "合格"\n        goto: report\n      - else: nonconforming\n')


@pytest.mark.parametrize(("call", "message"), [
    (lambda: add_field(FORM, "verdict", type="string", title="x"), "already has a field 'verdict'"),
    (lambda: add_field(FORM, "v", type="string", title="x", minimum=1), "limits apply to number fields only"),
    (lambda: add_field(FORM, "v", type="number", title="x", minimum=5, maximum=1), "above the upper limit"),
    (lambda: add_field(FORM, "v", type="colour", title="x"), "unknown field type 'colour'"),
    (lambda: remove_field(FORM, "nope"), "the form has no field 'nope'"),
    (lambda: add_step(PROC, "receive", title="x", role="inspector", next="done"), "already has a step 'receive'"),
    (lambda: add_step(PROC, "x", title="x", role="inspector"), "needs a next step"),
    (lambda: add_field("a: [", "v", type="string", title="x"), "cannot be read"),
])
def test_bad_edits_say_what_to_fix(call, message) -> None:
    with pytest.raises(EditError, match=message):
        call()


def test_update_field_changes_only_the_keys_given() -> None:
    new = update_field(FORM, "ambient_temperature", title="环境温度（实验室）", maximum=30)
    removed, added = changes(FORM, new)
    assert removed == ["      title: 环境温度", "      x-limits: {min: 15, max: 35}"]
    assert added == ["      title: 环境温度（实验室）", "      x-limits: {min: 15, max: 30}"]
    new = update_field(FORM, "defect", required=False, visible_if=None)
    removed, added = changes(FORM, new)
    assert removed == ["  required: [items, instrument, inspector, inspected_at, verdict, defect]",
                       '      x-visible-if: verdict == "不合格"']
    assert added == ["  required: [items, instrument, inspector, inspected_at, verdict]"]
    assert update_field(FORM, "instrument", unit=None, options=[], visible_if=None) == FORM
    with pytest.raises(EditError, match="limits apply to number fields only"):
        update_field(FORM, "instrument", minimum=1)


# -- renaming and deleting steps (issue 19) --------------------------------------------------

def _shipped(name: str) -> str:
    from pathlib import Path
    return (Path(__file__).parents[2] / "procedures" / f"{name}.yaml").read_text(encoding="utf-8")


def _problems(text: str, name: str) -> list[str]:
    import shutil
    import tempfile
    from pathlib import Path

    from engine.config import load_config
    from engine.language.procedure import load_library
    root = Path(__file__).parents[2]
    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(root / "procedures", tmp / "procedures")
    (tmp / "procedures" / f"{name}.yaml").write_text(text, encoding="utf-8")
    lib = load_library([tmp / "procedures", root / "forms"], config=load_config(root / "config.yaml"))
    return [str(p) for p in lib.problems]


def test_rename_step_updates_every_reference_and_stays_valid():
    from engine.language.yaml_edit import rename_step
    src = _shipped("after-sales-inspection")
    out = rename_step(src, "inspect", "product_check")
    assert "  product_check:\n" in out and "  inspect:\n" not in out
    assert "next: product_check" in out  # the step before it
    assert 'if: product_check.verdict == "合格"' in out  # a condition
    assert "field: product_check.verdict" in out and "breakdown: [product_check.verdict" in out  # records
    assert "prefill: {conclusion: product_check.verdict}" in out
    assert "title: 产品检验" in out  # prose is never rewritten
    assert out.splitlines()[0] == src.splitlines()[0]  # comments kept
    assert _problems(out, "after-sales-inspection") == []


def test_rename_step_refuses_bad_or_taken_ids():
    from engine.language.yaml_edit import EditError, rename_step
    src = _shipped("after-sales-inspection")
    for bad, says in (("Inspect", "lower_snake_case"), ("start", "not start or instance"),
                      ("report", "already has a step 'report'"), ("x-y", "lower_snake_case")):
        with pytest.raises(EditError, match=says):
            rename_step(src, "inspect", bad)
    with pytest.raises(EditError, match="no step 'inspekt'"):
        rename_step(src, "inspekt", "check")


def test_delete_step_relinks_a_plain_chain_and_refuses_a_named_step():
    from engine.language.yaml_edit import EditError, delete_step, rename_step
    src = _shipped("after-sales-inspection")
    with pytest.raises(EditError, match=r"'inspect' is still named by step 'evaluate' \(condition of a route\)"):
        delete_step(src, "inspect")
    with pytest.raises(EditError, match="first step"):
        delete_step(src, "receive")
    out = delete_step(src, "feedback")  # report review → feedback → done: review now leads on
    assert "  feedback:\n" not in out
    assert _problems(out, "after-sales-inspection") == [], out
    assert rename_step(out, "review", "review") == out
