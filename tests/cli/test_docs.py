"""The complete examples in docs/ are valid, so a reader who copies them starts from working code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from engine.language.forms import parse_form
from engine.language.procedure import load_library
from engine.language.yaml_source import load

ROOT = Path(__file__).parents[2]


def yaml_blocks(doc: str) -> list[str]:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_procedure_language_example_validates(tmp_path):
    examples = [b for b in yaml_blocks("procedure-language.md") if b.lstrip().startswith("#") and "steps:" in b]
    assert examples, "docs/procedure-language.md has no complete example"
    for block in examples:
        pid = yaml.safe_load(block)["id"]
        path = tmp_path / f"{pid}.yaml"
        path.write_text(block, encoding="utf-8")
        lib = load_library([path, ROOT / "forms"])
        assert [str(p) for p in lib.problems] == []
        assert pid in lib.procedures


def test_forms_example_validates():
    block = yaml_blocks("forms.md")[0]
    form, problems = parse_form(load(block, "inspection-result.yaml"))
    assert problems == [] and form is not None
    assert form.validate({"items": [{"item": "外观", "result": "合格"}], "verdict": "合格"}) == []


def test_procedures_page_is_generated_from_the_library():
    """docs/procedures.md is what `wf procedures doc` writes; regenerate it after changing a procedure."""
    from engine.config import load_config
    from engine.language.procedures_doc import render

    lib = load_library([ROOT / "procedures", ROOT / "forms"])
    expected = render(lib.procedures.values(), load_config(ROOT / "config.yaml"))
    assert (ROOT / "docs" / "procedures.md").read_text(encoding="utf-8") == expected, \
        "docs/procedures.md is out of date: run `wf procedures doc`"
    for pid in lib.procedures:
        assert f"## {lib.procedures[pid].title} — `{pid}`" in expected


def test_procedures_doc_command_checks_and_writes(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from engine.cli import main

    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    assert runner.invoke(main, ["procedures", "doc", "--check"]).exit_code == 0
    out = tmp_path / "p.md"
    out.write_text("stale", encoding="utf-8")
    assert runner.invoke(main, ["procedures", "doc", "--check", "-o", str(out)]).exit_code == 1
    assert runner.invoke(main, ["procedures", "doc", "-o", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == (ROOT / "docs" / "procedures.md").read_text(encoding="utf-8")


def test_mermaid_diagram_names_every_step_and_rejection_loop():
    from engine.language.procedures_doc import mermaid

    lib = load_library([ROOT / "procedures", ROOT / "forms"])
    chart = mermaid(lib.procedures["customer-complaint"])
    assert chart.startswith("flowchart TD")
    for sid in lib.procedures["customer-complaint"].steps:
        assert f"\n  {sid}" in chart
    assert "gm_approval -.->|驳回| analyse" in chart
    assert '-->|"classify.severity == #quot;重大#quot;' in chart
