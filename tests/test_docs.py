"""The complete examples in docs/ are valid, so a reader who copies them starts from working code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from engine.forms import parse_form
from engine.procedure import load_library
from engine.yamlsrc import load

ROOT = Path(__file__).parents[1]


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
