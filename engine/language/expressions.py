"""The expression language of procedures: Jinja2 expression syntax, sandboxed and bounded.

``compile_expr(source)`` parses, checks and compiles an expression once (the result is
cached); ``Expr.evaluate(context)`` runs it against a mapping of root names (step ids,
``start``) to form data. ``check_names`` reports names that no earlier form defines, with
a "did you mean" from :mod:`engine.language.suggest`.

Safety, in layers:

* Compile time: only a whitelist of node types; no ``**``, no ``~``; names and attributes
  starting with ``_`` are refused; calls only to the functions in ``FUNCTIONS`` (never to an
  attribute, so no methods); filters and tests only from ``FILTERS`` and ``TESTS``; the
  number of arguments is checked. Jinja's optimizer is off, so nothing runs at compile time.
* Run time: attribute and item access go through ``_Env.getattr``/``getitem``, which only
  look into mappings and lists; arithmetic goes through ``_Env.call_binop``, which refuses
  to build strings or lists longer than ``MAX_SIZE`` *before* building them, refuses
  integers of more than ``MAX_DIGITS`` digits, and refuses ``%``-formatting of strings.
* Time: the language has no loops, comprehensions, lambdas, recursion or ``range``; every
  node of the expression runs at most once, and each runs in time linear in the size of its
  operands, which are either the caller's data or values bounded by ``MAX_SIZE`` and
  ``MAX_DIGITS``. So evaluation time is bounded by (expression length) x (data size); no
  timer is needed.

Missing values: a missing root, a missing key, an index out of range and any field of
``none`` all evaluate to ``None`` (there is no Jinja ``Undefined`` in this language).
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from jinja2 import nodes
from jinja2.filters import do_round
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from engine.errors import ExpressionError
from engine.i18n import _
from engine.language.suggest import suggest

__all__ = [
    "FILTERS",
    "FUNCTIONS",
    "MAX_DIGITS",
    "MAX_SIZE",
    "MAX_SOURCE",
    "TESTS",
    "Expr",
    "check_names",
    "compile_expr",
]

#: Longest string or list that ``+``, ``*`` or ``|join`` may build.
MAX_SIZE = 10_000
#: Integers may have at most this many digits.
MAX_DIGITS = 1000
#: Longest expression source accepted.
MAX_SOURCE = 4000

_INT_LIMIT = 10**MAX_DIGITS
_SIZED = (str, list, tuple)
_UTC = _dt.UTC
# Prefix given to function names in the compiled code; users cannot write names with "_".
_FN_PREFIX = "_f_"


def _error(message: str, offset: int = 0) -> ExpressionError:
    err = ExpressionError(message)
    err.offset = offset  # type: ignore[attr-defined]
    return err


def _type_name(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, _dt.datetime):
        return "date-time"
    if isinstance(value, _dt.date):
        return "date"
    if isinstance(value, _dt.timedelta):
        return "duration"
    return type(value).__name__


def _kind_word(value: Any) -> str:
    """The type name of ``value`` for a message, in the reader's language."""
    return _kind_word_of(_type_name(value))


def _short(value: Any) -> str:
    """A repr for messages that never prints (or builds) a large value."""
    if isinstance(value, str) and len(value) <= 60:
        return repr(value)
    if isinstance(value, int | float) and not (type(value) is int and value.bit_length() > 200):
        return repr(value)
    if isinstance(value, _dt.date | _dt.timedelta):
        return repr(value)
    return _("a {kind}", kind=_kind_word(value))


def _deep_size(value: Any, budget: int = MAX_SIZE) -> int:
    """Characters plus items in ``value``, counted through nested lists and objects.

    A list of n numbers has size n; a text of n characters has size n.

    Shared references count each time they appear: that is the size the value has when
    compared, printed or joined. Counting stops once past ``budget``, so this costs
    O(budget) at most, whatever the value.
    """
    total = 0
    stack = [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple):
            total += len(item)
            if total <= budget:
                stack.extend(item)
        elif isinstance(item, Mapping):
            total += len(item)
            if total <= budget:
                stack.extend(item.values())
        elif type(item) is int:
            total += item.bit_length() >> 8  # big numbers print long
    return total


_T = TypeVar("_T")


def _check_int(value: _T) -> _T:
    if type(value) is int and not -_INT_LIMIT < value < _INT_LIMIT:
        raise _error(_("number too large: results may have at most {n} digits", n=MAX_DIGITS))
    return value


def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        if what == "repetition":
            message = _("repetition would have {size} items or characters; the limit is {limit}",
                        size=size, limit=MAX_SIZE)
        elif what == "joining":
            message = _("joining would have {size} items or characters; the limit is {limit}",
                        size=size, limit=MAX_SIZE)
        elif what == "the text":
            message = _("the text would have {size} items or characters; the limit is {limit}",
                        size=size, limit=MAX_SIZE)
        elif what == "join":
            message = _("join would have {size} items or characters; the limit is {limit}",
                        size=size, limit=MAX_SIZE)
        else:
            message = f"{what} would have {size} items or characters; the limit is {MAX_SIZE}"
        raise _error(message)


# --- functions --------------------------------------------------------------------------


def _len(value: Any) -> int:
    return 0 if value is None else len(value)


def _extreme(pick: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    if len(args) == 1:
        items = args[0]
        if items is None:
            return None
        if not isinstance(items, list | tuple):
            return items
        items = [x for x in items if x is not None]
        return pick(items) if items else None
    return pick(args)


def _min(*args: Any) -> Any:
    """``min(list)`` or ``min(a, b, ...)``; ``none`` items are skipped, empty gives none."""
    return _extreme(min, args)


def _max(*args: Any) -> Any:
    """``max(list)`` or ``max(a, b, ...)``; ``none`` items are skipped, empty gives none."""
    return _extreme(max, args)


def _sum(items: Any) -> Any:
    if items is None:
        return 0
    return _check_int(sum(x for x in items if x is not None))


def _any(items: Any) -> bool:
    return False if items is None else any(items)


def _all(items: Any) -> bool:
    # A missing list is not "all passed": all(none) is false, unlike all([]).
    return False if items is None else all(items)


def _count(items: Any, key: Any, value: Any) -> int:
    if items is None:
        return 0
    return sum(1 for item in items if isinstance(item, Mapping) and item.get(key) == value)


def _duration(unit: str) -> Callable[[Any], _dt.timedelta | None]:
    def make(n: Any) -> _dt.timedelta | None:
        if n is None:
            return None
        if isinstance(n, bool) or not isinstance(n, int | float):
            raise _error(_("{fn}() needs a number, got {value}", fn=unit, value=_short(n)))
        return _dt.timedelta(**{unit: n})

    make.__name__ = unit
    return make


def _date(value: Any) -> _dt.date | None:
    """ISO date text (or a date, or a date-time) to a date; none stays none."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            pass
        try:
            return _dt.datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise _error(_("date() needs an ISO date such as '2024-05-31', got {value}", value=_short(value)))


def _datetime(value: Any, zone: _dt.tzinfo | None = None) -> _dt.datetime | None:
    """ISO date-time text (or a date-time, or a date) to an aware date-time. A naive one is
    read in ``zone``, the procedure calendar's (``_Env.call``): a browser's date-time field
    posts the wall-clock time as typed (``2026-11-02T09:00``), which people in Beijing mean
    as Beijing time. UTC only where no calendar is in scope."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        result = value
    elif isinstance(value, _dt.date):
        result = _dt.datetime.combine(value, _dt.time())
    elif isinstance(value, str):
        try:
            result = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise _error(_(
                "datetime() needs an ISO date-time such as '2024-05-31T14:30:00+08:00', got {value}",
                value=_short(value))) from None
    else:
        raise _error(_("datetime() needs a date-time text, got {value}", value=_short(value)))
    return result if result.tzinfo is not None else result.replace(tzinfo=zone or _UTC)


def _now() -> Any:  # never called directly: _Env.call reads the clock from the scope
    raise _error(_("now() is not available here"))


# --- tables: one row per entry, columns read by name ----------------------------------


def _rows(fn: str, table: Any) -> list[Mapping[str, Any]]:
    if table is None:
        return []
    if not isinstance(table, list | tuple):
        raise _error(_("{fn}() reads the rows of a table, got {value}", fn=fn, value=_short(table)))
    return [row for row in table if isinstance(row, Mapping)]


def _number(fn: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(_("{fn}() adds numbers, but a row holds {value}", fn=fn, value=_short(value)))
    return value


def _column(table: Any, name: Any) -> list[Any]:
    """``column(table, "col")``: the values of one column, one per row (none where empty)."""
    return [row.get(name) for row in _rows("column", table)]


def _sum_of(table: Any, name: Any) -> Any:
    """``sum_of(table, "col")``: the column's numbers added up; empty cells are skipped."""
    return _check_int(sum(_number("sum_of", v) for row in _rows("sum_of", table)
                          if (v := row.get(name)) is not None))


def _weighted_sum(table: Any, value: Any, weight: Any) -> Any:
    """``weighted_sum(table, "score", "weight")``: the sum of score x weight over the rows
    where both are filled in."""
    total: Any = 0
    for row in _rows("weighted_sum", table):
        v, w = row.get(value), row.get(weight)
        if v is not None and w is not None:
            total = _check_int(total + _number("weighted_sum", v) * _number("weighted_sum", w))
    return total


def _avg_of(table: Any, name: Any) -> Any:
    """``avg_of(table, "col")``: the average of the column's numbers; empty cells are skipped,
    and a column with no number gives none."""
    values = [_number("avg_of", v) for row in _rows("avg_of", table) if (v := row.get(name)) is not None]
    return _check_int(sum(values)) / len(values) if values else None


#: The comparisons ``count_if`` takes, written as in expressions.
COUNT_IF_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def _count_if(table: Any, name: Any, op: Any, value: Any) -> int:
    """``count_if(table, "score", "<", 60)``: how many rows hold a value in that column that
    compares so with ``value``; empty cells never count."""
    compare = COUNT_IF_OPS.get(op) if isinstance(op, str) else None
    if compare is None:
        raise _error(_("count_if() compares with one of {ops}, got {value}",
                       ops=", ".join(COUNT_IF_OPS), value=_short(op)))
    total = 0
    for row in _rows("count_if", table):
        cell = row.get(name)
        if cell is None:
            continue
        try:
            total += bool(compare(cell, value))
        except TypeError:
            raise _error(_("count_if() cannot compare {cell} with {value}",
                           cell=_short(cell), value=_short(value))) from None
    return total


def _days_between(first: Any, second: Any) -> int | None:
    """``days_between(a, b)``: whole days from date ``a`` to date ``b`` (negative when ``b``
    comes first); none when either is missing. Date-times count by their dates."""
    a, b = _date(first), _date(second)
    if a is None or b is None:
        return None
    return (b - a).days


# --- local time: dates as people in the calendar's zone see them -----------------------
# These read the procedure's calendar from the scope (``__calendar__``: anything with a
# ``timezone`` and ``is_working_day(date)``), so "today" at 07:30 in Beijing is the
# Beijing date, not the UTC one still on the day before.


_F = TypeVar("_F", bound=Callable[..., Any])


def _calendar_fn(fn: _F) -> _F:
    fn.needs_calendar = True  # type: ignore[attr-defined]
    return fn


def _instant(fn: str, value: Any, cal: Any) -> _dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value) if ("T" in value or " " in value) else _dt.date.fromisoformat(value)
        except ValueError:
            raise _error(_("{fn}() needs a date or date-time, got {value}", fn=fn, value=_short(value))) from None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=cal.timezone)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=cal.timezone)
    raise _error(_("{fn}() needs a date or date-time, got {value}", fn=fn, value=_short(value)))


@_calendar_fn
def _local_date(cal: Any, value: Any) -> _dt.date | None:
    """``local_date(t)``: the calendar date of instant ``t`` in the calendar's zone."""
    t = _instant("local_date", value, cal)
    return None if t is None else t.astimezone(cal.timezone).date()


@_calendar_fn
def _today(cal: Any, now: Any) -> _dt.date:
    """``today()``: the local date of now."""
    return now.astimezone(cal.timezone).date()  # type: ignore[no-any-return]


@_calendar_fn
def _month_start(cal: Any, value: Any) -> _dt.date | None:
    """``month_start(t)``: the first day of the local month of ``t``."""
    d = _local_date(cal, value)
    return None if d is None else d.replace(day=1)


@_calendar_fn
def _month_end(cal: Any, value: Any) -> _dt.date | None:
    """``month_end(t)``: the last day of the local month of ``t``."""
    d = _local_date(cal, value)
    if d is None:
        return None
    nxt = _dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - _dt.timedelta(days=1)


@_calendar_fn
def _next_workday(cal: Any, value: Any) -> _dt.date | None:
    """``next_workday(t)``: the first working day after the local date of ``t``."""
    d = _local_date(cal, value)
    if d is None:
        return None
    for _day in range(400):  # a calendar always has a working day within a year
        d += _dt.timedelta(days=1)
        if cal.is_working_day(d):
            return d
    raise _error(_("next_workday(): the calendar has no working day in the next year"))


@_calendar_fn
def _workday_on_or_after(cal: Any, value: Any) -> _dt.date | None:
    """``workday_on_or_after(t)``: the local date of ``t`` if it is a working day, else the next one."""
    d = _local_date(cal, value)
    if d is None or cal.is_working_day(d):
        return d
    return _next_workday(cal, d)


@_calendar_fn
def _at(cal: Any, value: Any, hhmm: Any) -> _dt.datetime | None:
    """``at(d, "17:30")``: that local time on the local date of ``d``, as an instant."""
    d = _local_date(cal, value)
    if d is None:
        return None
    if not isinstance(hhmm, str) or not re.fullmatch(r"\d\d:\d\d", hhmm):
        raise _error(_("at() takes the local time as \"HH:MM\" text, got {value}", value=_short(hhmm)))
    hh, mm = int(hhmm[:2]), int(hhmm[3:])
    if hh > 23 or mm > 59:
        raise _error(_("at(): {value} is not a time of day", value=repr(hhmm)))
    return _dt.datetime(d.year, d.month, d.day, hh, mm, tzinfo=cal.timezone)


#: name -> (function, least arguments, most arguments or None for any number)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "len": (_len, 1, 1),
    "min": (_min, 1, None),
    "max": (_max, 1, None),
    "sum": (_sum, 1, 1),
    "any": (_any, 1, 1),
    "all": (_all, 1, 1),
    "count": (_count, 3, 3),
    "days": (_duration("days"), 1, 1),
    "hours": (_duration("hours"), 1, 1),
    "minutes": (_duration("minutes"), 1, 1),
    "date": (_date, 1, 1),
    "datetime": (_datetime, 1, 1),
    "now": (_now, 0, 0),
    "column": (_column, 2, 2),
    "sum_of": (_sum_of, 2, 2),
    "weighted_sum": (_weighted_sum, 3, 3),
    "avg_of": (_avg_of, 2, 2),
    "count_if": (_count_if, 4, 4),
    "days_between": (_days_between, 2, 2),
    "today": (_today, 0, 0),
    "local_date": (_local_date, 1, 1),
    "month_start": (_month_start, 1, 1),
    "month_end": (_month_end, 1, 1),
    "next_workday": (_next_workday, 1, 1),
    "workday_on_or_after": (_workday_on_or_after, 1, 1),
    "at": (_at, 2, 2),
}
_GLOBALS = {_FN_PREFIX + name: fn for name, (fn, _, _) in FUNCTIONS.items()}


# --- filters and tests ------------------------------------------------------------------
# On none: length gives 0, default gives the default, string and join give "", the others
# give none.


def _flt_length(value: Any) -> int:
    return 0 if value is None else len(value)


def _text(value: Any) -> str:
    """``str(value)``, refusing lists and objects too big to print."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | Mapping):
        _check_size(_deep_size(value), "the text")
    return str(value)


def _flt_lower(value: Any) -> str | None:
    return None if value is None else _text(value).lower()


def _flt_upper(value: Any) -> str | None:
    return None if value is None else _text(value).upper()


_ROUND_METHODS: dict[str, Literal["common", "ceil", "floor"]] = {
    "common": "common", "ceil": "ceil", "floor": "floor"
}


def _flt_round(value: Any, precision: int = 0, method: str = "common") -> float | None:
    if value is None:
        return None
    how = _ROUND_METHODS.get(method)
    if how is None:
        raise _error(_("round: method must be 'common', 'ceil' or 'floor'"))
    # Rounding computes 10 ** precision: keep it small.
    if type(precision) is not int or not -20 <= precision <= 20:
        raise _error(_("round: precision must be a whole number from -20 to 20"))
    return do_round(value, precision, how)


def _flt_abs(value: Any) -> Any:
    return None if value is None else abs(value)


def _flt_int(value: Any, default: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) > MAX_DIGITS + 1:
        raise _error(_("number too large: results may have at most {n} digits", n=MAX_DIGITS))
    try:
        return _check_int(int(value))
    except (TypeError, ValueError):
        pass
    try:
        return _check_int(int(float(value)))
    except (TypeError, ValueError, OverflowError):
        return default


def _flt_float(value: Any, default: float = 0.0) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _flt_string(value: Any) -> str:
    return "" if value is None else _text(value)


def _flt_join(value: Any, d: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = list(value)
    sep = _text(d)
    _check_size(_deep_size(value) + len(sep) * max(len(value) - 1, 0), "join")
    return sep.join("" if x is None else _text(x) for x in value)


def _flt_default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    if value is None or (boolean and not value):
        return default_value
    return value


FILTERS: dict[str, Callable[..., Any]] = {
    "abs": _flt_abs,
    "default": _flt_default,
    "float": _flt_float,
    "int": _flt_int,
    "join": _flt_join,
    "length": _flt_length,
    "lower": _flt_lower,
    "round": _flt_round,
    "string": _flt_string,
    "upper": _flt_upper,
}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


TESTS: dict[str, Callable[..., bool]] = {
    "none": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, float),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    # The number checks keep `%` from formatting a text ("%999999999d" is even).
    "even": lambda v: _is_number(v) and v % 2 == 0,
    "odd": lambda v: _is_number(v) and v % 2 == 1,
    "divisibleby": lambda v, n: _is_number(v) and _is_number(n) and v % n == 0,
}


# --- the sandboxed environment ----------------------------------------------------------

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
}


class _Env(SandboxedEnvironment):
    """Jinja's sandbox routes attribute access, calls and arithmetic through these methods."""

    intercepted_binops = frozenset(_BINOPS)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            return obj.get(attribute)
        if obj is None:
            return None
        if isinstance(obj, Mapping):
            return obj.get(attribute)
        if isinstance(obj, list | tuple) and attribute.isdigit():
            index = int(attribute)
            return obj[index] if index < len(obj) else None
        raise _error(_("cannot read field '{field}' of a {kind} value", field=attribute, kind=_kind_word(obj)))

    def getitem(self, obj: Any, argument: Any) -> Any:
        if obj is None:
            return None
        if isinstance(obj, Mapping) and not isinstance(argument, slice | list | dict):
            return obj.get(argument)
        if isinstance(obj, _SIZED):
            if isinstance(argument, int) and not isinstance(argument, bool):
                return obj[argument] if -len(obj) <= argument < len(obj) else None
            if isinstance(argument, slice):
                return obj[argument]
        raise _error(_("cannot index a {kind} value with {value}", kind=_kind_word(obj), value=_short(argument)))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        # Compile-time checks guarantee __obj is one of FUNCTIONS.
        if __obj is _now:
            return __context.now()
        if __obj is _datetime:
            cal = __context.data.get("__calendar__")
            return _datetime(*args, zone=getattr(cal, "timezone", None))
        if getattr(__obj, "needs_calendar", False):
            if __obj is _today:
                return __obj(__context.calendar(), __context.now())
            return __obj(__context.calendar(), *args)
        return __obj(*args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        # Sizes count nested items too, so nesting repetitions ([[1] * n] * n) cannot build
        # values whose comparison or printing would take n * n steps.
        if operator == "*":
            if isinstance(left, _SIZED) and isinstance(right, int) and right > 0:
                _check_size(_deep_size(left) * right, "repetition")
            elif isinstance(right, _SIZED) and isinstance(left, int) and left > 0:
                _check_size(_deep_size(right) * left, "repetition")
        elif operator == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                _check_size(_deep_size(left) + _deep_size(right), "joining")
        elif operator == "%" and isinstance(left, str):
            raise _error(_("'%' is the remainder of a division and works on numbers only"))
        return _check_int(_BINOPS[operator](left, right))


_ENV = _Env(optimized=False, autoescape=False)
_ENV.globals.clear()
_ENV.filters = dict(FILTERS)
_ENV.tests = dict(TESTS)


class _Scope:
    """The smallest object the generated code needs as its Jinja ``context``.

    Jinja 3.1's generated root function only calls ``resolve_or_missing`` and writes
    ``vars`` and ``exported_vars`` (our filters and functions take no context, and
    ``_Env.call`` does not use it except for ``now()``). Building a full ``jinja2.Context``
    per evaluation would cost several times the comparison itself; the tests pin this.
    """

    __slots__ = ("data", "vars")
    exported_vars: set[str] = set()  # written to by the generated code; never read

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.vars: dict[str, Any] = {}

    def resolve_or_missing(self, key: str) -> Any:
        fn = _GLOBALS.get(key)
        if fn is not None:
            return fn
        return self.data.get(key)

    def now(self) -> Any:
        value = self.data.get("__now__")
        if value is None:
            raise _error(_("now() is not available here: the caller supplied no clock"))
        return value

    def calendar(self) -> Any:
        value = self.data.get("__calendar__")
        if value is None:
            raise _error(_("local dates are not available here: the caller supplied no calendar"))
        return value


# --- compiling --------------------------------------------------------------------------

_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Const,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Add,
    nodes.Sub,
    nodes.Mul,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Mod,
    nodes.CondExpr,
    nodes.Slice,
)


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled expression. ``names`` holds every dotted name path it reads, as written."""

    source: str
    names: frozenset[str]
    _run: Callable[[Any], Any] = field(repr=False, compare=False)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against ``context`` (root name -> value); raise ExpressionError on failure.

        ``context["__now__"]``, if present, is what ``now()`` returns.
        """
        scope = _Scope(context)
        try:
            next(self._run(scope), None)
        except ExpressionError as exc:
            raise _error(_("cannot evaluate {source}: {error}", source=repr(self.source), error=exc.message)) from exc
        except Exception as exc:  # any failure of user-written code is the user's error
            raise _error(_("cannot evaluate {source}: {error}", source=repr(self.source), error=_describe(exc))) from exc
        return scope.vars["result"]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return _("the expression is nested too deeply")
    if isinstance(exc, ZeroDivisionError):
        return _("division by zero")
    text = str(exc).replace("'NoneType'", "none").replace("NoneType", "none")
    return _python_message(text) if text else type(exc).__name__


_PY_TYPES = {"int": "number", "float": "number", "str": "text", "bool": "boolean", "list": "list",
             "tuple": "list", "dict": "object", "none": "none", "datetime.date": "date",
             "datetime.datetime": "date-time", "datetime.timedelta": "duration"}


def _py_type(name: str) -> str:
    """A Python type name as a message names it (English stays Python's word)."""
    return _kind_word_of(_PY_TYPES.get(name, name))


def _kind_word_of(name: str) -> str:
    words = {
        "none": _("none"), "boolean": _("boolean"), "number": _("number"), "text": _("text"),
        "object": _("object"), "list": _("list"), "date-time": _("date-time"), "date": _("date"),
        "duration": _("duration"),
    }
    return words.get(name, name)


_PY_COMPARE = re.compile(r"'([^']+)' not supported between instances of '([^']+)' and '([^']+)'")
_PY_OPERAND = re.compile(r"unsupported operand type\(s\) for ([^:]+): '([^']+)' and '([^']+)'")


def _compare_words(op: str, left: str, right: str) -> str:
    return _("'{op}' not supported between instances of '{left}' and '{right}'", op=op, left=left, right=right)


def _operand_words(op: str, left: str, right: str) -> str:
    return _("unsupported operand type(s) for {op}: '{left}' and '{right}'", op=op, left=left, right=right)


def _python_message(text: str) -> str:
    """Python's words for the common type errors, in the reader's language; in English (or
    with no translation) the text as Python gives it. The types are named as messages name
    them only in a translation: English keeps Python's own names."""
    for pattern, say in ((_PY_COMPARE, _compare_words), (_PY_OPERAND, _operand_words)):
        m = pattern.fullmatch(text)
        if m:
            op, left, right = m.groups()
            said = say(op, left, right)
            return said if said == text else say(op, _py_type(left), _py_type(right))
    return text


_SINGLE_EQUALS = re.compile(r"(?<![=!<>])=(?!=)")


def _single_equals(source: str) -> int | None:
    """Where a lone ``=`` stands outside quotes, or None."""
    for m in _SINGLE_EQUALS.finditer(source):
        before = source[:m.start()]
        if before.count('"') % 2 == 0 and before.count("'") % 2 == 0:
            return m.start()
    return None


def _offset(source: str, needle: str) -> int:
    index = source.find(needle) if needle else -1
    return max(index, 0)


_JINJA_UNEXPECTED = re.compile(r"unexpected '(.*)'")
_JINJA_EXPECTED = re.compile(r"expected token '(.*)', got '(.*)'")
_JINJA_CHAR = re.compile(r"unexpected char (.+) at (\d+)")
_JINJA_END = re.compile(r"unexpected end of expression, expected '(.*)'")


def _jinja_words(message: str) -> str:
    """The parser's common complaints (as ``_syntax_message`` words them) in the reader's
    language; any other stays as the parser says it."""
    if message == "unexpected 'end of expression'":
        return _("unexpected 'end of expression'")
    m = _JINJA_UNEXPECTED.fullmatch(message)
    if m:
        return _("unexpected '{token}'", token=m.group(1))
    m = _JINJA_EXPECTED.fullmatch(message)
    if m:
        return _("expected token '{expected}', got '{got}'", expected=m.group(1), got=m.group(2))
    m = _JINJA_CHAR.fullmatch(message)
    if m:
        return _("unexpected char {char} at {at}", char=m.group(1), at=m.group(2))
    m = _JINJA_END.fullmatch(message)
    if m:
        return _("unexpected end of expression, expected '{expected}'", expected=m.group(1))
    return message


_MISSING_ARGUMENT = re.compile(r"missing a required argument: '(.*)'")


def _signature_words(message: str) -> str:
    """Python's complaint about a filter's or test's arguments, in the reader's language."""
    if message == "too many positional arguments":
        return _("too many positional arguments")
    m = _MISSING_ARGUMENT.fullmatch(message)
    if m:
        return _("missing a required argument: '{name}'", name=m.group(1))
    return message


def _syntax_message(message: str) -> str:
    return (
        message.replace("end of print statement", "end of expression")
        .replace("end of template", "end of expression")
        .replace("template", "expression")
    )


class _Checker:
    """Walks the parsed tree once: refuses what the language forbids, collects names."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: set[str] = set()

    def fail(self, message: str, needle: str = "") -> ExpressionError:
        return _error(message, _offset(self.source, needle))

    def name(self, name: str) -> None:
        if name.startswith("_"):
            raise self.fail(
                _("'{name}' is not allowed: names starting with '_' are reserved", name=name), name
            )

    def path(self, node: nodes.Node) -> str | None:
        """``a.b.c`` for a chain of attributes on a name, else None (checks each part)."""
        if isinstance(node, nodes.Name):
            self.name(node.name)
            return node.name
        if isinstance(node, nodes.Getattr):
            base = self.path(node.node)
            self.name(node.attr)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def visit(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr):
            path = self.path(node)
            if path is not None:
                self.names.add(path)
            else:
                self.visit(node.node)  # type: ignore[union-attr]
        elif isinstance(node, nodes.Getitem):
            self.visit(node.node)
            self.visit(node.arg)
        elif isinstance(node, nodes.Call):
            self.call(node)
        elif isinstance(node, nodes.Filter | nodes.Test):
            self.filter_or_test(node)
        elif isinstance(node, nodes.Pow):
            raise self.fail(
                _("'**' (power) is not allowed in expressions; multiply instead (x * x) or use a constant"),
                "**",
            )
        elif isinstance(node, nodes.Concat):
            raise self.fail(_("'~' is not allowed in expressions; join texts with '+'"), "~")
        elif isinstance(node, _ALLOWED_NODES):
            if isinstance(node, nodes.Const):
                self.const(node.value)
            if isinstance(node, nodes.CondExpr) and node.expr2 is None:
                node.expr2 = nodes.Const(None, lineno=node.lineno)
            for child in node.iter_child_nodes():
                self.visit(child)
        else:
            raise self.fail(_("{node} is not allowed in expressions", node=type(node).__name__))

    def const(self, value: Any) -> None:
        if type(value) is int and not -_INT_LIMIT < value < _INT_LIMIT:
            raise self.fail(_("number too large: at most {n} digits are allowed", n=MAX_DIGITS))

    def call(self, node: nodes.Call) -> None:
        target = node.node
        allowed = ", ".join(f"{n}()" for n in FUNCTIONS)
        if not isinstance(target, nodes.Name):
            path = self.path(target)
            if path:
                message = _("calling '{path}' is not allowed: only the functions {allowed} "
                            "can be called (no methods)", path=path, allowed=allowed)
            else:
                message = _("calling a method or expression is not allowed: only the functions "
                            "{allowed} can be called (no methods)", allowed=allowed)
            raise self.fail(message, "(")
        name = target.name
        if name not in FUNCTIONS:
            hint = suggest(name, FUNCTIONS)
            if hint:
                message = _("unknown function '{name}'; did you mean '{hint}'? allowed functions: {allowed}",
                            name=name, hint=hint, allowed=allowed)
            else:
                message = _("unknown function '{name}'; allowed functions: {allowed}", name=name, allowed=allowed)
            raise self.fail(message, name)
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            raise self.fail(_("{name}() takes positional arguments only", name=name), name)
        _fn, least, most = FUNCTIONS[name]
        given = len(node.args)
        if given < least or (most is not None and given > most):
            if most is None:
                message = _("{name}() takes at least {least} arguments, {given} given",
                            name=name, least=least, given=given)
            elif least == most:
                message = _("{name}() takes {n} argument{s}, {given} given",
                            name=name, n=least, s="s" if least != 1 else "", given=given)
            else:
                message = _("{name}() takes {least} to {most} arguments, {given} given",
                            name=name, least=least, most=most, given=given)
            raise self.fail(message, name)
        target.name = _FN_PREFIX + name
        for arg in node.args:
            self.visit(arg)

    def filter_or_test(self, node: nodes.Filter | nodes.Test) -> None:
        kind, table = ("filter", FILTERS) if isinstance(node, nodes.Filter) else ("test", TESTS)
        name = node.name
        if name not in table:
            raise self.fail(_unknown_filter_or_test(kind, name, table), name)
        if node.dyn_args or node.dyn_kwargs:
            if kind == "filter":
                raise self.fail(_("filter '{name}' does not take *args or **kwargs", name=name), name)
            raise self.fail(_("test '{name}' does not take *args or **kwargs", name=name), name)
        placeholders = [None] * (len(node.args) + 1)
        try:
            inspect.signature(table[name]).bind(*placeholders, **{str(k.key): None for k in node.kwargs})
        except TypeError as exc:
            if kind == "filter":
                message = _("wrong arguments for filter '{name}': {error}", name=name, error=_signature_words(str(exc)))
            else:
                message = _("wrong arguments for test '{name}': {error}", name=name, error=_signature_words(str(exc)))
            raise self.fail(message, name) from None
        if node.node is not None:
            self.visit(node.node)
        for child in (*node.args, *node.kwargs):
            self.visit(child)


def _unknown_filter_or_test(kind: str, name: str, table: Mapping[str, Any]) -> str:
    allowed = ", ".join(sorted(table))
    hint = suggest(name, table)
    if kind == "filter":
        if name in ("defined", "undefined"):
            return _("unknown filter '{name}'; missing values are none, so write 'x is none' or "
                     "'x is not none'; allowed filters: {allowed}", name=name, allowed=allowed)
        if hint:
            return _("unknown filter '{name}'; did you mean '{hint}'? allowed filters: {allowed}",
                     name=name, hint=hint, allowed=allowed)
        return _("unknown filter '{name}'; allowed filters: {allowed}", name=name, allowed=allowed)
    if name in ("defined", "undefined"):
        return _("unknown test '{name}'; missing values are none, so write 'x is none' or "
                 "'x is not none'; allowed tests: {allowed}", name=name, allowed=allowed)
    if hint:
        return _("unknown test '{name}'; did you mean '{hint}'? allowed tests: {allowed}",
                 name=name, hint=hint, allowed=allowed)
    return _("unknown test '{name}'; allowed tests: {allowed}", name=name, allowed=allowed)


_FULLWIDTH_QUOTES = "“”‘’"
_ASCII_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def _fullwidth_quote(source: str) -> int | None:
    """Where the first full-width quote (“ ” ‘ ’) outside a closed ASCII-quoted text is, or
    None. Inside ``"他说“好”"`` they are text; in ``== “合格”`` or ``== "合格”`` they are
    meant as quotes."""
    quote: str | None = None  # the ASCII quote of the text being read
    opened = 0
    for i, ch in enumerate(source):
        if quote is None:
            if ch in "\"'":
                quote, opened = ch, i
            elif ch in _FULLWIDTH_QUOTES:
                return i
        elif ch == quote and source[i - 1] != "\\":
            quote = None
    if quote is not None:  # never closed: a full-width quote after the opening one ended it
        return next((i for i in range(opened, len(source)) if source[i] in _FULLWIDTH_QUOTES), None)
    return None


def compile_expr(source: str) -> Expr:
    """Parse, check and compile ``source``; raise ExpressionError (with ``offset``) if invalid.

    Results are cached by source text, so compiling the same expression again is cheap.
    """
    if not isinstance(source, str):
        raise _error(_("an expression must be text, got {kind}", kind=_kind_word(source)))
    return _compile(source)


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> Expr:
    if not source.strip():
        raise _error(_("the expression is empty; write a condition such as step.field == 'value'"))
    if len(source) > MAX_SOURCE:
        raise _error(_("the expression is too long ({n} characters; at most {limit})",
                       n=len(source), limit=MAX_SOURCE))
    try:
        parser = Parser(_ENV, source, state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            at = _single_equals(source)
            if token.value == "=" and at is not None:
                # One '=' is how most people write "equals" outside programming.
                raise _error(
                    _("syntax error in {source}: one '=' does not compare; write '==' (equal) or '!=' "
                      "(not equal): {fixed}", source=repr(source), fixed=source[:at] + "=" + source[at:]),
                    at,
                )
            raise _error(
                _("syntax error in {source}: unexpected {token} after the end of the "
                  "expression; join conditions with 'and'/'or' and check brackets and quotes",
                  source=repr(source), token=repr(token.value)),
                _offset(source, str(token.value)),
            )
    except ExpressionError:
        raise
    except RecursionError:
        raise _error(_("syntax error in {source}: the expression is nested too deeply",
                       source=repr(source))) from None
    except Exception as exc:
        at = _fullwidth_quote(source)
        if at is not None:  # a Chinese input method's quotes: the one cause worth naming
            raise _error(_("full-width quote {quote} in {source}: text in an expression is written "
                           "between ASCII quotes \" or '; write {fixed}", quote=source[at],
                           source=repr(source), fixed=source.translate(_ASCII_QUOTES)), at) from None
        message = _syntax_message(getattr(exc, "message", None) or str(exc)).rstrip(".")
        match = re.search(r"(?:got|unexpected) '([^']+)'", message)
        if match:
            offset = _offset(source, match.group(1))
        elif "end of expression" in message:
            offset = len(source)
        else:
            offset = 0
        raise _error(
            _("syntax error in {source}: {problem}; check brackets, quotes and operators",
              source=repr(source), problem=_jinja_words(message)),
            offset,
        ) from None
    try:
        tree.set_ctx("load")
        checker = _Checker(source)
        checker.visit(tree)
        body = [nodes.Assign(nodes.Name("result", "store"), tree, lineno=1)]
        template = _ENV.from_string(nodes.Template(body, lineno=1))
    except ExpressionError:
        raise
    except RecursionError:
        raise _error(_("cannot compile {source}: the expression is nested too deeply",
                       source=repr(source))) from None
    except Exception as exc:
        raise _error(_("cannot compile {source}: {error}", source=repr(source), error=_describe(exc))) from None
    return Expr(source, frozenset(checker.names), template.root_render_func)


# --- names ------------------------------------------------------------------------------


def _listing(items: Iterable[str], limit: int = 8) -> str:
    items = sorted(items)
    shown = ", ".join(items[:limit])
    return shown + (", ..." if len(items) > limit else "")


def _suggest_field(name: str, candidates: set[str]) -> str | None:
    """A close field: first under the same step, then the same field of another step.

    Only the part after the step id is compared, so a shared step id does not make every
    field of that step look close.
    """
    root, _, rest = name.partition(".")
    same_root = {c.partition(".")[2]: c for c in candidates if c.partition(".")[0] == root}
    hint = suggest(rest, same_root)
    if hint is not None:
        return same_root[hint]
    by_rest: dict[str, str] = {}
    for c in sorted(candidates):
        by_rest.setdefault(c.partition(".")[2], c)
    hint = suggest(rest, by_rest)
    return None if hint is None else by_rest[hint]


def no_start_form(name: str) -> str:
    """The fix for ``start.FIELD`` in a procedure whose ``start:`` names no form."""
    return _("'{name}' reads the start form, but 'start:' names no form; add 'form: FORM' under "
             "'start:' (its fields are then start.FIELD)", name=name)


def _unknown_step(root: str, name: str, hint: str | None, roots: set[str]) -> str:
    if root == "start" and name != root:
        return no_start_form(name)
    if name == root:
        if hint:
            return _("unknown step '{root}'; did you mean '{hint}'?", root=root, hint=hint)
        if roots:
            return _("unknown step '{root}'; known steps here: {steps}", root=root, steps=_listing(roots))
        return _("unknown step '{root}'; no step before this point has fields", root=root)
    if hint:
        return _("unknown step '{root}' in '{name}'; did you mean '{hint}'?", root=root, name=name, hint=hint)
    if roots:
        return _("unknown step '{root}' in '{name}'; known steps here: {steps}",
                 root=root, name=name, steps=_listing(roots))
    return _("unknown step '{root}' in '{name}'; no step before this point has fields", root=root, name=name)


def text_without_quotes(name: str) -> str | None:
    """The fix for a name that can only be a text typed without quotes (``verdict == 合格``):
    ids of steps and fields are ASCII, so a name in Chinese is always meant as text."""
    if "." in name or name.isascii():
        return None
    return _("'{name}' is read as a field name; write a text in quotes: \"{name}\"", name=name)


def _bare_word(name: str, paths: set[str]) -> str | None:
    """The likelier mistake behind a bare name that is no step: a text written without quotes
    (``start.severity == 严重``: step ids are ASCII, so Chinese is always meant as text), or a
    field written without its step (``severity == "严重"``). None when neither fits."""
    if (unquoted := text_without_quotes(name)) or "." in name:
        return unquoted
    owners = sorted(p for p in paths if p.rpartition(".")[2] == name and "." in p)
    if owners:
        return _("'{name}' alone names no field; write the step before it, as STEP.FIELD: {fields}",
                 name=name, fields=" or ".join(f"'{o}'" for o in owners[:3]))
    return None


def check_names(expr: Expr, known: set[str] | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Report each name of ``expr`` that ``known`` (dotted field paths) does not allow.

    A name is allowed if it is a known path, a prefix of one, or extends one
    (``inspect.items.0`` when ``inspect.items`` is known). Returns ``(name, message)``
    pairs, sorted by name, with a "did you mean" when a known path is close.
    """
    paths = set(known)
    prefixes: set[str] = set()
    for path in paths:
        parts = path.split(".")
        prefixes.update(".".join(parts[:i]) for i in range(1, len(parts)))
    roots = {path.split(".", 1)[0] for path in paths}
    problems: list[tuple[str, str]] = []
    for name in sorted(expr.names):
        if name in paths or name in prefixes:
            continue
        if any(name.startswith(path + ".") for path in paths):
            continue
        root = name.split(".", 1)[0]
        if root not in roots:
            message = _bare_word(name, paths) or _unknown_step(root, name, suggest(root, roots), roots)
        else:
            hint = _suggest_field(name, {p for p in paths | prefixes if "." in p})
            if hint:
                message = _("unknown field '{name}'; did you mean '{hint}'?", name=name, hint=hint)
            else:
                fields = [p for p in paths if p.startswith(root + ".")] or sorted(paths)
                message = _("unknown field '{name}'; known fields here: {fields}",
                            name=name, fields=_listing(fields))
        problems.append((name, message))
    return problems

