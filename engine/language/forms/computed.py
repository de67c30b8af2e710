"""``x-compute``: fields whose value the server works out from the other fields of the form
(and from earlier steps' data), never from what the client sends.

A computed field is a top-level field with ``x-compute: EXPRESSION``. Bare names in the
expression are fields of the same form (``sum_of(lines, "amount")``); a dotted name whose
first part is not a field of the form is a field of an earlier step (``screening.weight``),
checked where a procedure uses the form. Computed fields may read each other (without
cycles); they are worked out in dependency order.

Pure module: no I/O.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ExpressionError

if TYPE_CHECKING:
    from engine.language.expressions import Expr

#: Floats are stored rounded to this many decimals, so 0.1 + 0.2 is stored as 0.3.
DECIMALS = 10


@dataclass(frozen=True)
class Computed:
    """One computed field: its name, the compiled expression and the JSON type it stores."""

    name: str
    expr: Expr
    type: str | None  # number, integer, string, boolean (from the field's schema)
    reads: frozenset[str]  # the form's own fields it reads (their first name part)
    external: frozenset[str]  # dotted names of earlier steps' fields it reads


def order(fields: Mapping[str, Computed]) -> tuple[list[Computed], list[str] | None]:
    """The computed fields in an order where each comes after those it reads, and the first
    cycle found (names, the first repeated at the end) or None."""
    done: list[Computed] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycle: list[str] | None = None

    def visit(name: str, trail: list[str]) -> None:
        nonlocal cycle
        if state.get(name) == 2 or cycle is not None:
            return
        if state.get(name) == 1:
            cycle = [*trail[trail.index(name):], name]
            return
        state[name] = 1
        for dep in sorted(fields[name].reads):
            if dep in fields and dep != name:
                visit(dep, [*trail, name])
            elif dep == name and cycle is None:
                cycle = [name, name]
        state[name] = 2
        done.append(fields[name])

    for name in fields:
        visit(name, [])
    return done, cycle


def jsonable(value: Any, type_: str | None) -> Any:
    """A computed result as stored: dates as ISO text, floats rounded (a whole one stored as
    a whole number), None for anything JSON cannot hold."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = round(value, DECIMALS)
        # JSON has one kind of number: a whole result is stored (and shown) as 90, not 90.0.
        return int(value) if value.is_integer() else value
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return None


def compute(fields: list[Computed], data: Mapping[str, Any], context: Mapping[str, Any] | None,
            own: frozenset[str] | None = None) -> dict[str, Any]:
    """``data`` with every computed field worked out (what the client sent for them is
    dropped). The expressions see ``context`` (earlier steps' data, ``instance``, the clock
    and calendar) with the form's own fields (``own``) on top. A field whose expression cannot be
    evaluated (an input left empty) is left out, like any empty field."""
    out = {k: v for k, v in data.items() if not any(c.name == k for c in fields)}
    scope: dict[str, Any] = dict(context or {})
    # Only the form's own fields stand beside the context: a key the form does not declare
    # (``rate`` sent as if it were a field) never shadows an earlier step's data.
    scope.update(out if own is None else {k: v for k, v in out.items() if k in own})
    for c in fields:
        try:
            value = jsonable(c.expr.evaluate(scope), c.type)
        except ExpressionError:
            value = None
        if value is None:
            scope.pop(c.name, None)
            continue
        out[c.name] = value
        scope[c.name] = value
    return out
