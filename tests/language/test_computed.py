"""Computed fields (``x-compute``), the table aggregates they use, and a step's ``hide:`` and
``edit:`` of earlier data: parsed, checked and computed in memory (issue 17, parts 4 and 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ExpressionError
from engine.language import yaml_source as yamlsrc
from engine.language.expr_types import check_types, form_kinds
from engine.language.expressions import compile_expr
from engine.language.forms import parse_form
from engine.language.forms.computed import jsonable
from engine.language.procedure import load_library

ROOT = Path(__file__).parents[2]
COMPUTED = ROOT / "tests" / "data" / "computed"
ROWS = [{"name": "a", "score": 90, "weight": 2}, {"name": "b", "score": 50, "weight": 1},
        {"name": "c", "weight": 4}]


def form(text: str):
    f, problems = parse_form(yamlsrc.load(text, "f.yaml"))
    assert f is not None
    return f, [p.message for p in problems]


# --- the table aggregates -----------------------------------------------------------------


@pytest.mark.parametrize(("source", "value"), [
    ("avg_of(t, 'score')", 70),                        # empty cells are skipped
    ("avg_of([], 'score')", None),                      # nothing to average
    ("avg_of(none, 'score')", None),
    ("count_if(t, 'score', '<', 60)", 1),
    ("count_if(t, 'score', '>=', 50)", 2),
    ("count_if(t, 'name', '==', 'c')", 1),
    ("count_if(t, 'score', '!=', 90)", 1),              # the empty cell never counts
    ("count_if(none, 'score', '<', 60)", 0),
    ("weighted_sum(t, 'score', 'weight') / sum_of(t, 'weight')", 230 / 7),
    ("days_between('2026-01-30', '2026-03-01')", 30),
    ("days_between('2026-03-01', '2026-01-30')", -30),
    ("days_between('2026-03-01T23:00:00+08:00', '2026-03-02')", 1),
    ("days_between(none, '2026-03-02')", None),
])
def test_table_aggregates_and_days_between(source, value):
    assert compile_expr(source).evaluate({"t": ROWS}) == value


@pytest.mark.parametrize("source", [
    "count_if(t, 'score', 'greater', 3)",               # an operator it does not know
    "count_if(t, 'name', '<', 3)",                      # text against a number
    "avg_of(t, 'name')",                                # text is not averaged
    "avg_of('abc', 'x')",                               # not a table
    "days_between('soon', '2026-01-01')",
])
def test_aggregates_refuse_what_they_cannot_do_with_an_expression_error(source):
    with pytest.raises(ExpressionError):
        compile_expr(source).evaluate({"t": ROWS})


def test_aggregates_are_type_checked_at_load():
    kinds = form_kinds({"properties": {"t": {"type": "array", "items": {"type": "object", "properties": {
        "score": {"type": "number"}, "name": {"type": "string"}, "on": {"type": "string", "format": "date"}}}}}},
        "s")
    problems = [m for _o, m in check_types(
        "avg_of(s.t, 'name') + count_if(s.t, 'score', '~', 1) + count_if(s.t, 'scroe', '<', 1)"
        " + days_between(s.t, 3)", kinds)]
    assert problems == [
        "avg_of() averages numbers, but the column 's.t.name' is text",
        "count_if() takes the comparison as quoted text, one of ==, !=, <, <=, >, >=: e.g. "
        "count_if(s.t, 'score', '<', 60)",
        "'scroe' is not a column of 's.t'; did you mean 'score'? columns: score, name, on",
        "days_between() counts the days between two dates, but 's.t' is a table",
        "days_between() counts the days between two dates, but 3 is a number",
    ]


# --- x-compute in a form ---------------------------------------------------------------------

SCORE_FORM = """
id: f
title: 评分
schema:
  type: object
  required: [rows, verdict, total]
  properties:
    rows:
      type: array
      x-widget: table
      items:
        type: object
        properties:
          score: {type: number}
          weight: {type: number}
    verdict: {type: string, enum: [合格, 不合格], x-compute: "'合格' if total >= 80 else '不合格'"}
    total: {type: number, x-compute: "weighted_sum(rows, 'score', 'weight') / sum_of(rows, 'weight')"}
    count: {type: integer, x-compute: "len(rows)"}
    why: {type: string, x-visible-if: "verdict == '不合格'"}
"""


def test_computed_fields_are_worked_out_in_dependency_order_and_forged_values_replaced():
    f, problems = form(SCORE_FORM)
    assert problems == []
    assert [c.name for c in f.computed] == ["total", "verdict", "count"]  # verdict reads total
    assert f.fields["total"].compute.startswith("weighted_sum") and f.fields["rows"].compute is None
    sent = {"rows": [{"score": 90, "weight": 1}, {"score": 80, "weight": 3}],
            "total": 100, "verdict": "合格", "count": 99}           # forged by the client
    assert f.compute(sent) == {"rows": sent["rows"], "total": 82.5, "verdict": "合格", "count": 2}
    assert sent["total"] == 100                                      # the input is not changed


def test_computed_fields_are_never_required_from_the_operator_but_are_validated():
    f, _ = form(SCORE_FORM)
    assert f.validate({"rows": []}) == []                 # total, verdict: required, but computed
    computed = f.compute({"rows": []})                    # 0 / 0: cannot be computed, left out
    assert "total" not in computed and computed["count"] == 0


def test_a_field_hidden_by_a_computed_value_is_dropped_and_hidden_values_never_count():
    f, _ = form(SCORE_FORM)
    shown = f.compute({"rows": [{"score": 50, "weight": 1}], "why": "差"})
    assert shown["verdict"] == "不合格" and shown["why"] == "差"
    hidden = f.compute({"rows": [{"score": 95, "weight": 1}], "why": "差"})
    assert hidden["verdict"] == "合格" and "why" not in hidden


def test_computed_fields_read_earlier_steps_from_the_context_and_the_form_wins_a_clash():
    f, problems = form("""
id: f
title: T
schema:
  type: object
  properties:
    extra: {type: number}
    total: {type: number, x-compute: "extra + inspect.measured"}
""")
    assert problems == [] and f.external_names == {"inspect.measured"}
    assert f.compute({"extra": 1}, {"inspect": {"measured": 2.5}}) == {"extra": 1, "total": 3.5}
    assert f.compute({"extra": 1}, {}) == {"extra": 1}       # not recorded: left empty


def test_stored_values_are_json_and_floats_are_rounded():
    assert jsonable(0.1 + 0.2, "number") == 0.3
    assert jsonable(3.0, "integer") == 3 and isinstance(jsonable(3.0, "integer"), int)
    assert jsonable(float("inf"), "number") is None
    assert jsonable(compile_expr("date('2026-01-02')").evaluate({}), "string") == "2026-01-02"
    assert jsonable([1], "number") is None


def test_every_form_problem_of_x_compute_is_reported_at_its_line():
    _f, problems = form("""
id: f
title: T
schema:
  type: object
  properties:
    when: {type: string, format: date}
    span: {type: number, x-compute: "date(when) - date(when)"}
    blank: {type: number, x-compute: ""}
    broken: {type: number, x-compute: "1 +"}
    self: {type: number, x-compute: "self + 1"}
""")
    assert problems == [
        "x-compute gives a duration (write days_between(a, b) for a number of days), but 'span' is of "
        "type number",
        'x-compute must be an expression over fields of the form, e.g. sum_of(lines, "amount")',
        problems[2],
        "x-compute: computed fields read each other in a cycle (self → self); one of them must be "
        "entered, not computed",
    ]
    assert problems[2].startswith("x-compute: syntax error in '1 +'")


# --- procedures: computed fields in conditions, hide and edit ------------------------------


def test_the_test_procedure_is_valid_and_steps_carry_hide_and_edit():
    lib = load_library([COMPUTED])
    assert lib.problems == []
    review = lib.procedures["scorecard"].steps["review"]
    assert review.hide == ("rate.remark",) and review.edit == ("rate.supplier", "rate.note")


def test_a_condition_on_a_computed_field_is_type_checked_like_any_field(tmp_path):
    (tmp_path / "p.yaml").write_text(
        (COMPUTED / "procedures" / "scorecard.yaml").read_text(encoding="utf-8")
        .replace("rate.total >= 80", "rate.total >= '80'").replace("id: scorecard", "id: p"),
        encoding="utf-8")
    lib = load_library([tmp_path / "p.yaml", COMPUTED / "forms"])
    assert [p.message for p in lib.problems] == [
        "'rate.total' is a number and \"80\" is text: they cannot be ordered (this fails when it runs); "
        "write the number without quotes: 80"]


def test_a_computed_field_may_not_show_a_field_its_step_hides(tmp_path):
    (tmp_path / "p.yaml").write_text(
        (COMPUTED / "procedures" / "scorecard.yaml").read_text(encoding="utf-8")
        .replace("hide: [rate.remark]", "hide: [rate.total]").replace("id: scorecard", "id: p"),
        encoding="utf-8")
    lib = load_library([tmp_path / "p.yaml", COMPUTED / "forms"])
    assert [p.message for p in lib.problems] == [
        "form 'scorecard-review' computes 'bonus_total' from 'rate.total', which step 'review' hides: the "
        "computed value would show it; remove it from 'hide' or from the expression"]


def test_a_key_the_form_does_not_declare_never_shadows_an_earlier_step():
    f, _ = form("""
id: f
title: T
schema:
  type: object
  properties:
    total: {type: number, x-compute: "inspect.measured * 2"}
""")
    assert f.compute({"inspect": {"measured": 1000}}, {"inspect": {"measured": 2}})["total"] == 4


def test_clients_see_computed_fields_as_read_only_and_never_required():
    f, _ = form(SCORE_FORM)
    schema = f.client_schema
    assert schema["required"] == ["rows"]
    assert schema["properties"]["total"]["readOnly"] is True and "readOnly" not in schema["properties"]["rows"]
    assert "readOnly" not in f.schema["properties"]["total"]          # the form itself is unchanged
