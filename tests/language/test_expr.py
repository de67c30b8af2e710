"""The expression language: names, evaluation, missing values, messages and the sandbox."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ExpressionError
from engine.language.expressions import MAX_SIZE, Expr, check_names, compile_expr

UTC = dt.UTC


def ev(source: str, context: dict | None = None):
    return compile_expr(source).evaluate(context or {})


def compile_error(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_expr(source)
    return info.value


def eval_error(source: str, context: dict | None = None) -> ExpressionError:
    expr = compile_expr(source)
    with pytest.raises(ExpressionError) as info:
        expr.evaluate(context or {})
    return info.value


# --- module hygiene -----------------------------------------------------------------------


def test_expressions_never_call_eval():
    # Import direction is checked once for every package in tests/test_layers.py.
    source = Path("engine/language/expressions.py").read_text(encoding="utf-8")
    assert "eval(" not in source.replace(".evaluate(", "")


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ('inspect.verdict == "合格"', {"inspect.verdict"}),
        ("a.b.c > 1 and x", {"a.b.c", "x"}),
        ("len(inspect.items) > 0", {"inspect.items"}),
        ("items[0].x == 1", {"items"}),
        ("items.0.x == 1", {"items"}),
        ("a[b.c]", {"a", "b.c"}),
        ("count(r.rows, 'ok', true) + days(n.d).days", {"r.rows", "n.d"}),
        ("x.v|lower in ['a', y.w]", {"x.v", "y.w"}),
        ("now() > date('2024-01-01')", set()),
        ("p.a if p.b else p.c", {"p.a", "p.b", "p.c"}),
        ("{'k': s.v}", {"s.v"}),
    ],
)
def test_names_are_dotted_paths_as_written(source, names):
    expr = compile_expr(source)
    assert isinstance(expr, Expr)
    assert expr.source == source
    assert expr.names == frozenset(names)


def test_compile_is_cached():
    assert compile_expr("a.b == 1") is compile_expr("a.b == 1")


# --- evaluation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2", 3),
        ("'a' + 'b'", "ab"),
        ("[1] + [2]", [1, 2]),
        ("7 - 10", -3),
        ("3 * 4", 12),
        ("'ab' * 3", "ababab"),
        ("2 * [0]", [0, 0]),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("7 % 3", 1),
        ("-x.n", -5),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("1 < 2 <= 2", True),
        ("3 > 2 >= 3", False),
        ("'b' in ['a', 'b']", True),
        ("'z' not in 'abc'", True),
        ("true and false", False),
        ("false or 'x'", "x"),
        ("not none", True),
        ("'yes' if x.n > 3 else 'no'", "yes"),
        ("'yes' if x.n > 9", None),
        ("[1, 'two', none]", [1, "two", None]),
        ("{'a': 1}", {"a": 1}),
        ("(1, 2)", (1, 2)),
        ("'abcdef'[1:3]", "bc"),
        ("x.list[-1]", 3),
        ("x.list[1:]", [2, 3]),
        ("x.list.0", 1),
        ("x.d['k']", "v"),
        ("len(x.list)", 3),
        ("len('合格')", 2),
        ("min(x.list)", 1),
        ("max(x.list)", 3),
        ("min(4, 2, 8)", 2),
        ("max([])", None),
        ("sum(x.list)", 6),
        ("any([0, 1])", True),
        ("all([1, 0])", False),
        ("all([])", True),
        ("count(x.rows, 'ok', true)", 2),
        ("count(x.rows, 'ok', false)", 1),
        ("days(2)", dt.timedelta(days=2)),
        ("hours(1.5)", dt.timedelta(hours=1.5)),
        ("minutes(30)", dt.timedelta(minutes=30)),
        ("date('2024-02-28')", dt.date(2024, 2, 28)),
        ("date('2024-02-28T23:00:00')", dt.date(2024, 2, 28)),
        ("datetime('2024-02-28T10:00:00')", dt.datetime(2024, 2, 28, 10, tzinfo=UTC)),
        (
            "datetime('2024-02-28T10:00:00+08:00')",
            dt.datetime(2024, 2, 28, 2, tzinfo=UTC),
        ),
        ("datetime('2024-02-28')", dt.datetime(2024, 2, 28, tzinfo=UTC)),
        ("x.s|length", 5),
        ("x.s|lower", "mixed"),
        ("x.s|upper", "MIXED"),
        ("3.14159|round(2)", 3.14),
        ("2.5|round(0, 'floor')", 2.0),
        ("-4|abs", 4),
        ("'42'|int", 42),
        ("'4.5'|float", 4.5),
        ("12|string", "12"),
        ("x.list|join(', ')", "1, 2, 3"),
        ("x.missing|default('n/a')", "n/a"),
        ("''|default('n/a', true)", "n/a"),
        ("x.n is number", True),
        ("x.s is string", True),
        ("x.missing is none", True),
        ("x.n is odd", True),
        ("x.n is divisibleby 5", True),
    ],
)
def test_operators_functions_and_filters(source, expected):
    context = {
        "x": {
            "n": 5,
            "s": "MiXeD",
            "list": [1, 2, 3],
            "d": {"k": "v"},
            "rows": [{"ok": True}, {"ok": False}, {"ok": True}, "not a row"],
        }
    }
    result = ev(source, context)
    assert result == expected
    assert type(result) is type(expected)


def test_comparison_against_chinese_text():
    expr = compile_expr('inspect.verdict == "合格"')
    assert expr.evaluate({"inspect": {"verdict": "合格"}}) is True
    assert expr.evaluate({"inspect": {"verdict": "不合格"}}) is False


# --- missing values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["nostep", "nostep.field", "s.missing", "s.missing.deeper.still", "s.items[3]",
     "s.items[0].nope", "s.none_value.x", "s['nokey']"],
)
def test_missing_values_are_plain_none(source):
    context = {"s": {"items": [{"a": 1}], "none_value": None}}
    assert ev(source, context) is None


def test_missing_values_in_conditions_and_functions():
    assert ev("s.verdict == none") is True
    assert ev("s.verdict != '合格'") is True
    assert ev("not s.verdict") is True
    assert ev("len(s.items)") == 0
    assert ev("count(s.items, 'a', 1)") == 0
    assert ev("sum(s.items)") == 0
    assert ev("any(s.items) or all(s.items)") is False
    assert ev("s.items|length") == 0
    assert ev("s.name|string") == ""
    assert ev("s.name|lower") is None
    assert ev("date(s.on)") is None
    assert ev("{'k': s.v}") == {"k": None}


def test_items_is_a_field_not_the_dict_method():
    assert ev("s.items", {"s": {"items": [1]}}) == [1]
    assert ev("s.keys", {"s": {}}) is None


def test_runtime_type_errors_are_expression_errors():
    err = eval_error("s.n > 3")
    assert "none" in err.message
    assert "s.n > 3" in err.message
    assert "division by zero" in eval_error("1 / x.z", {"x": {"z": 0}}).message
    assert "cannot read field" in eval_error("x.s.len", {"x": {"s": "text"}}).message
    eval_error("'a' - 1")
    eval_error("min(1, 'a')")


# --- dates and the clock ------------------------------------------------------------------


def test_date_arithmetic():
    context = {"delivery": {"on": "2024-02-27"}, "c": {"at": "2024-03-01T08:00:00Z"}}
    assert ev("date(delivery.on) + days(5)", context) == dt.date(2024, 3, 3)
    assert ev("date(delivery.on) - days(1) < date('2024-02-27')", context) is True
    assert ev("datetime(c.at) + hours(2)", context) == dt.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert ev("datetime(c.at) - datetime(delivery.on)", context) == dt.timedelta(days=3, hours=8)
    assert ev("date(date(delivery.on))", context) == dt.date(2024, 2, 27)
    assert ev("days(1) * 3", context) == dt.timedelta(days=3)


def test_date_functions_accept_objects_and_reject_bad_text():
    d = dt.date(2024, 1, 2)
    assert ev("date(s.d)", {"s": {"d": d}}) == d
    assert ev("datetime(s.d)", {"s": {"d": d}}) == dt.datetime(2024, 1, 2, tzinfo=UTC)
    naive = dt.datetime(2024, 1, 2, 3, 4)
    assert ev("datetime(s.t)", {"s": {"t": naive}}) == naive.replace(tzinfo=UTC)
    assert "ISO date" in eval_error("date('31/12/2024')").message
    assert "ISO date-time" in eval_error("datetime('soon')").message
    assert "needs a number" in eval_error("days('5')").message


def test_now_comes_from_the_context():
    clock = dt.datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert ev("now()", {"__now__": clock}) == clock
    assert ev("now() + days(1) > datetime('2024-06-02')", {"__now__": clock}) is True
    assert "clock" in eval_error("now()").message


# --- messages and check_names -------------------------------------------------------------

KNOWN = {"inspect.verdict", "inspect.items", "receive.customer", "receive.contact.phone"}


def check(source: str, known=KNOWN) -> list[tuple[str, str]]:
    return check_names(compile_expr(source), known)


def test_check_names_accepts_known_prefixes_and_extensions():
    assert check("inspect.verdict == 'ok' and receive.contact and receive.contact.phone") == []
    assert check("inspect.items.0.x and inspect.items[1] and inspect.items.more") == []
    assert check("receive") == []
    assert check("inspect.verdict", {"inspect.verdict": {"type": "string"}}) == []


def test_check_names_did_you_mean_field():
    assert check("inspect.verdcit == 'ok'") == [
        ("inspect.verdcit", "unknown field 'inspect.verdcit'; did you mean 'inspect.verdict'?")
    ]


def test_check_names_lists_fields_without_a_close_match():
    [(name, message)] = check("inspect.zzz")
    assert name == "inspect.zzz"
    assert message == "unknown field 'inspect.zzz'; known fields here: inspect.items, inspect.verdict"


def test_check_names_lists_at_most_eight_fields():
    known = {f"s.field{i}" for i in range(12)}
    [(_, message)] = check("s.zzzzzzzzzzzzzz", known)
    assert message.endswith(", ...")
    assert message.count("s.field") == 8


def test_check_names_unknown_step():
    assert check("insp.verdict") == [
        ("insp.verdict", "unknown step 'insp' in 'insp.verdict'; did you mean 'inspect'?")
    ]
    [(_, message)] = check("zzz.q")
    assert message == "unknown step 'zzz' in 'zzz.q'; known steps here: inspect, receive"
    [(_, message)] = check("zzz", set())
    assert message.startswith("unknown step 'zzz'")


@pytest.mark.parametrize(
    ("source", "fragment", "offset"),
    [
        ("a.b ==", "syntax error", None),
        ("(a.b", "expected ')'", None),
        ("a.b c", "unexpected 'c'", 4),
        ("'open", "syntax error", 0),
        ("", "empty", 0),
    ],
)
def test_syntax_errors_have_a_message_and_offset(source, fragment, offset):
    err = compile_error(source)
    assert fragment in err.message
    assert isinstance(err.offset, int)
    if offset is not None:
        assert err.offset == offset


# --- sandbox ------------------------------------------------------------------------------


def test_power_is_rejected_at_compile_time():
    err = compile_error("x.n ** 2")
    assert "'**' (power) is not allowed" in err.message
    assert err.offset == 4
    compile_error("10 ** 10 ** 10")


@pytest.mark.parametrize(
    "source",
    ["x.__class__", "x.__class__.__mro__", "''.__class__", "_private", "x._secret",
     "x['__class__']|length > 0 and x.__dict__"],
)
def test_underscore_names_are_rejected(source):
    assert "names starting with '_'" in compile_error(source).message


def test_dunder_by_subscript_only_reads_data():
    # A string key is data lookup, never attribute lookup.
    assert ev("x['__class__']", {"x": {}}) is None
    assert "cannot index" in eval_error("'abc'['upper']").message


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("''.join(x.list)", "no methods"),
        ("x.items()", "calling 'x.items' is not allowed"),
        ("x.s.upper()", "calling 'x.s.upper'"),
        ("range(10)", "unknown function 'range'"),
        ("lenn(x)", "did you mean 'len'?"),
        ("eval('1')", "unknown function 'eval'"),
        ("len(*x)", "positional arguments only"),
        ("len(x=1)", "positional arguments only"),
        ("len(a, b)", "len() takes 1 argument, 2 given"),
        ("count(a)", "count() takes 3 arguments, 1 given"),
        ("now(1)", "now() takes 0 arguments"),
        ("x ~ y", "'~' is not allowed"),
        ("(x.f)(1)", "not allowed"),
    ],
)
def test_calls_only_to_whitelisted_functions(source, fragment):
    assert fragment in compile_error(source).message


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("x|attr('__class__')", "unknown filter 'attr'"),
        ("x|map('upper')", "allowed filters: abs, default, float, int, join, length"),
        ("x|lenght", "did you mean 'length'?"),
        ("x|round(1, 'common', 3)", "wrong arguments for filter 'round'"),
        ("x is defined", "x is none"),
        ("x is callable", "unknown test 'callable'"),
    ],
)
def test_unknown_filters_and_tests_are_rejected(source, fragment):
    err = compile_error(source)
    assert fragment in err.message
    assert err.offset > 0


@pytest.mark.parametrize(
    "source",
    [
        '"a" * 10**9',
        "[1] * 10**8",
    ],
)
def test_power_bombs_never_reach_evaluation(source):
    compile_error(source)


@pytest.mark.parametrize(
    "source",
    [
        '"a" * 99999999',
        "[1] * 100000000",
        "100000000 * [1]",
        "('a' * 10000) + 'b'",
        "[x.big, x.big]|join",
        "'a' * 5000 * 5000",
        "x.big * 2",
    ],
)
def test_size_bombs_are_refused_quickly(source):
    start = time.perf_counter()
    err = eval_error(source, {"x": {"big": "b" * MAX_SIZE}})
    assert time.perf_counter() - start < 0.5
    assert f"the limit is {MAX_SIZE}" in err.message


def test_numbers_are_bounded():
    nine = "9" * 600
    err = eval_error(f"{nine} * {nine}")
    assert "number too large" in err.message
    assert "number too large" in compile_error("1" * 1001).message
    assert "number too large" in eval_error("x.s|int", {"x": {"s": "7" * 1500}}).message
    assert ev("'a' * 10000") == "a" * MAX_SIZE


def test_percent_formatting_is_refused():
    assert "numbers only" in eval_error("'%999999999d' % 1").message
    assert "numbers only" in eval_error("x.s % 1", {"x": {"s": "%s"}}).message


def test_attribute_access_only_into_data():
    when = dt.date(2024, 1, 1)
    assert "cannot read field 'year'" in eval_error("x.d.year", {"x": {"d": when}}).message
    assert "cannot read field" in eval_error("days(1).days").message


def test_simple_comparison_is_fast():
    expr = compile_expr('inspect.verdict == "合格"')
    context = {"inspect": {"verdict": "合格"}}
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        expr.evaluate(context)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 50e-6  # a few microseconds in practice; generous for slow CI


def test_evaluate_does_not_touch_the_context():
    context = {"s": {"items": [1, 2]}}
    ev("s.items + [3]", context)
    assert context == {"s": {"items": [1, 2]}}


# --- robustness ---------------------------------------------------------------------------

TOKENS = st.sampled_from(
    ["a", "b.c", "x.list", "1", "2.5", "'s'", '"合格"', "none", "true", "(", ")", "[", "]",
     "{", "}", ",", ":", ".", "|", "+", "-", "*", "/", "//", "%", "**", "~", "==", "<",
     " and ", " or ", " not ", " in ", " if ", " else ", " is ", "len", "date", "now()",
     "lower", "length", "join", "default", "round", "__class__", "_", "{{", "}}", "{%",
     "\\", "'", '"', " ", "\n", "0x1f", "1e309", "9" * 30]
)
CONTEXT = {"a": 3, "b": {"c": "合格"}, "x": {"list": [1, 2]}, "__now__": dt.datetime(2024, 1, 1, tzinfo=UTC)}


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(TOKENS, max_size=12).map("".join)))
def test_random_sources_compile_or_raise_expression_error(source):
    try:
        expr = compile_expr(source)
    except ExpressionError as err:
        assert err.message
        assert isinstance(err.offset, int)
        return
    try:
        expr.evaluate(CONTEXT)
    except ExpressionError as err:
        assert err.message


def test_check_names_suggests_the_same_field_of_another_step():
    [(_, message)] = check("inspect.customer")
    assert message == "unknown field 'inspect.customer'; did you mean 'receive.customer'?"
    [(_, message)] = check("receive.contact.phnoe")
    assert message == (
        "unknown field 'receive.contact.phnoe'; did you mean 'receive.contact.phone'?"
    )


@pytest.mark.parametrize(
    "source",
    [
        "[[1] * 10000] * 10000 == [[1] * 10000] * 10000",
        "[['a' * 100] * 100] * 100",
        "[[1] * 5000, [1] * 5000] + [[1]]",
        "([[1] * 100] * 100)|string",
        "[[x.big] * 10] * 10|join",
    ],
)
def test_nested_repetition_is_counted_by_its_full_size(source):
    start = time.perf_counter()
    err = eval_error(source, {"x": {"big": "b" * 1000}})
    assert time.perf_counter() - start < 0.5
    assert f"the limit is {MAX_SIZE}" in err.message


def test_values_at_the_limit_are_allowed():
    assert ev("[1] * 10000")[-1] == 1
    assert len(ev("[[1] * 99] * 100")) == 100
    assert ev("[[1] * 99] * 100 == [[1] * 99] * 100") is True


def test_error_messages_do_not_print_large_values():
    err = eval_error("date(x.big)", {"x": {"big": ["y" * 100] * 1000}})
    assert len(err.message) < 200
    assert "a list" in err.message


def test_compile_expr_requires_text():
    with pytest.raises(ExpressionError):
        compile_expr(["a"])  # type: ignore[arg-type]
    with pytest.raises(ExpressionError):
        compile_expr(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "source",
    ["'%999999999d' is even", "'%999999999d' is odd", "'%999999999d' is divisibleby 3"],
)
def test_tests_do_not_format_text(source):
    assert ev(source) is False


@pytest.mark.parametrize("source", ["5|round(-1000000000)", "5|round(1000000000, 'ceil')"])
def test_round_precision_is_bounded(source):
    start = time.perf_counter()
    assert "precision" in eval_error(source).message
    assert time.perf_counter() - start < 0.5
