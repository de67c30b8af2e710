"""A YAML alias inside its own anchor's value (``&a [*a]``) is a problem at the alias, in
every loader a person's text goes through, never a RecursionError."""

from __future__ import annotations

import pytest

from engine import i18n
from engine.language import yaml_edit
from engine.language import yaml_source as yamlsrc

SELF = ["x_extra: &a [*a]\n", "x_extra: &a {k: *a}\n", "x_extra: &a [1, {b: [*a]}]\n"]


@pytest.mark.parametrize("text", SELF)
def test_an_alias_inside_its_own_anchor_is_a_problem_at_the_alias(text: str) -> None:
    src = yamlsrc.load(text, "p.yaml")
    [problem] = src.problems
    assert src.data is None
    assert (problem.line, problem.col) == (1, text.index("*a") + 1)
    assert "*a is inside the value of its own anchor &a" in problem.message
    assert "write the values out" in problem.message


def test_an_alias_after_its_anchor_ends_is_fine() -> None:
    src = yamlsrc.load("a: &a [1]\nb: [*a, {c: *a}]\n", "p.yaml")
    assert src.problems == [] and src.data == {"a": [1], "b": [[1], {"c": [1]}]}


@pytest.mark.parametrize("text", SELF)
def test_try_it_answers_and_yaml_edits_refuse_it_too(text: str) -> None:
    with pytest.raises(ValueError, match="its own anchor"):
        yamlsrc.safe_load_bounded(text, "answers")
    with pytest.raises(yaml_edit.EditError):
        yaml_edit._load(text)


def test_it_is_said_in_chinese() -> None:
    i18n.set_locale("zh")  # the autouse fixture puts the default back
    [problem] = yamlsrc.load("x: &a [*a]\n", "p.yaml").problems
    assert "*a" in problem.message and "&a" in problem.message and "锚点" in problem.message
