"""The one "did you mean" (engine/language/suggest.py)."""

from __future__ import annotations

import itertools

from engine.language.suggest import suggest


def test_suggest():
    assert suggest("verdcit", ["verdict", "items"]) == "verdict"
    assert suggest("qqq", ["verdict", "items"]) is None
    assert suggest("x", []) is None


def test_the_order_of_the_candidates_does_not_change_the_answer():
    names = ["inspect", "inspector", "inspects", "suspect"]
    answers = {suggest("inspecct", order) for order in itertools.permutations(names)}
    assert len(answers) == 1


def test_names_that_are_not_text_are_never_proposed():
    assert suggest("1", [1, "one"]) is None
    assert suggest("titel", [3, "title", None]) == "title"

