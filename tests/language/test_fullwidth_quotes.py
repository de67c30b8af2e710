"""Full-width quotes (“合格”, typed with a Chinese input method) in a condition: one problem
naming them with the condition as it should be written, and no "cannot be reached" problem
for the step that the condition leads to."""

from __future__ import annotations

import pathlib

import pytest

from engine import i18n
from engine.errors import ExpressionError
from engine.language import yaml_source as yamlsrc
from engine.language.expressions import compile_expr
from engine.language.procedure import parse_procedure
from tests.language.test_shipped_procedures import LIB

PROC = LIB.procedures["after-sales-inspection"]


@pytest.mark.parametrize(("source", "at", "fixed"), [
    ("inspect.verdict == “合格”", 19, 'inspect.verdict == "合格"'),
    ("a == ‘x’", 5, "a == 'x'"),
    ('a == "x”', 7, 'a == "x"'),
    ('a == “x" and b', 5, 'a == "x" and b'),
])
def test_full_width_quotes_are_named_with_the_fix(source: str, at: int, fixed: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expr(source)
    assert "full-width quote" in caught.value.message and f"write {fixed}" in caught.value.message
    assert caught.value.offset == at  # type: ignore[attr-defined]


def test_full_width_quotes_inside_ascii_text_are_text() -> None:
    assert compile_expr('remark == "他说“好”"').evaluate({"remark": "他说“好”"}) is True


def test_said_in_chinese() -> None:
    i18n.set_locale("zh")  # the autouse fixture puts the default back
    with pytest.raises(ExpressionError) as caught:
        compile_expr("a == “合格”")
    assert "全角引号" in caught.value.message and 'a == "合格"' in caught.value.message


def test_a_condition_that_does_not_compile_reports_no_unreachable_step() -> None:
    text = pathlib.Path(PROC.file).read_text(encoding="utf-8")
    assert 'inspect.verdict == "合格"' in text
    broken = text.replace('inspect.verdict == "合格"', "inspect.verdict == “合格”", 1)
    _proc, problems = parse_procedure(yamlsrc.load(broken, PROC.file), LIB.forms)
    assert len(problems) == 1, problems
    line = broken[:broken.index("“合格”")].count("\n") + 1
    assert problems[0].line == line and "full-width quote" in problems[0].message
