"""Conditions built from pickers: a field, an operator suited to its type, a value from its
choices, rows joined by AND or OR; and due dates from a date field.

The step editor shows a condition as rows of pickers when it can, and as code otherwise. It
writes the expression the language already understands (``inspect.verdict == "合格"``),
and reads an expression back into rows only when writing those rows gives the very same
text, so an expression it cannot represent is never changed: it stays in the code box,
intact. Pure: no I/O, no Flask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.i18n import _
from engine.language.condition_words import split_top
from engine.language.procedure import APPROVAL_DECISIONS, Procedure, procedure_kinds

__all__ = ["OPERATORS", "Choice", "Condition", "DueDate", "Row", "build", "build_due", "fields_before",
           "operators_for", "parse", "parse_due", "steps_before", "typed_row"]

#: Operator id -> the words the picker shows (translated on display).
OPERATORS: dict[str, str] = {
    "eq": "is", "ne": "isn't", "gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most",
    "between": "between", "in": "is one of", "not_in": "is none of", "contains": "contains",
    "empty": "is empty", "not_empty": "is filled in", "yes": "is yes", "no": "is no",
}
_SIGN = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_BY_KIND = {
    "choice": ("eq", "ne", "in", "not_in", "empty", "not_empty"),
    "text": ("eq", "ne", "contains", "empty", "not_empty"),
    "number": ("eq", "ne", "gt", "ge", "lt", "le", "between", "empty", "not_empty"),
    "boolean": ("yes", "no"),
    "list": ("contains", "empty", "not_empty"),
    "date": ("empty", "not_empty"),
}
#: How many values each operator takes (``in``/``not_in``: one or more).
ARITY = {**dict.fromkeys(("eq", "ne", "gt", "ge", "lt", "le", "contains"), 1), "between": 2,
         "in": -1, "not_in": -1, **dict.fromkeys(("empty", "not_empty", "yes", "no"), 0)}


class BuildError(ValueError):
    """Rows that make no expression; the message says which row and what to fix."""


@dataclass(frozen=True)
class Choice:
    """A field the picker offers: ``ref`` is ``STEP.FIELD``; ``kind`` one of ``_BY_KIND``."""

    ref: str
    title: str
    step_title: str
    kind: str
    choices: tuple[str, ...] = ()
    fmt: str | None = None  # date / date-time for the due-date picker

    @property
    def operators(self) -> tuple[str, ...]:
        return operators_for(self.kind)

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "title": self.title, "step": self.step_title, "kind": self.kind,
                "choices": list(self.choices), "ops": list(self.operators), "fmt": self.fmt}


def operators_for(kind: str) -> tuple[str, ...]:
    return _BY_KIND.get(kind, ("eq", "ne", "empty", "not_empty"))


@dataclass(frozen=True)
class Row:
    """One row: ``field`` (``STEP.FIELD``), operator id, values (text, number or yes/no)."""

    field: str
    op: str
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Condition:
    join: str  # "and" or "or"
    rows: tuple[Row, ...]


def steps_before(proc: Procedure, sid: str) -> list[str]:
    """Steps that can come before ``sid`` (in the procedure's order)."""
    preds: dict[str, set[str]] = {s: set() for s in proc.steps}
    for step in proc.steps.values():
        for t in step.targets:
            if t in preds:
                preds[t].add(step.id)
    seen: set[str] = set()
    todo = list(preds.get(sid, ()))
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(preds[x])
    return [s for s in proc.steps if s in seen]


def fields_before(proc: Procedure, sid: str, *, own: bool = True) -> list[Choice]:
    """The fields a condition of step ``sid`` may read, by title with their step's title:
    the start form's, those of the steps before it, and (``own``: for its own ``next``) its
    own; an approval adds its decision (approve/reject) and, with several approvers, the
    numbers of approvals and rejections."""
    kinds = procedure_kinds(proc.forms, proc.steps, proc.start_form)
    before = steps_before(proc, sid)
    order = ["start", *before, *([sid] if own and sid in proc.steps and sid not in before else [])]
    out: list[Choice] = []
    for step in order:
        step_title = _("start form") if step == "start" else proc.steps[step].title
        form = proc.form_of(step) if step == "start" or step in proc.steps else None
        if form is not None:
            for name, info in form.fields.items():
                if "." in name or "[" in name:
                    continue  # top-level fields only: groups and table cells are for code
                kind = kinds.get(f"{step}.{name}")
                if kind is None:
                    continue
                out.append(Choice(f"{step}.{name}", info.title or name, step_title, _kind_of(kind),
                                  tuple(str(c) for c in kind.choices or () if c is not None), kind.fmt))
        if step != "start" and proc.steps[step].type == "approval":
            st = proc.steps[step]
            out.append(Choice(f"{step}.decision", f"{st.title}{_('decision')}", st.title, "choice",
                              APPROVAL_DECISIONS))
            if st.approvers is not None:
                for f in ("approvals", "rejections"):
                    out.append(Choice(f"{step}.{f}", f"{st.title}{_(f)}", st.title, "number"))
    return out


def _kind_of(k: Any) -> str:
    if k.kind == "text" and k.fmt:
        return "date"
    if k.kind == "text" and k.choices:
        return "choice"
    return k.kind if k.kind in ("text", "number", "boolean", "list") else "other"


# --------------------------------------------------------------------------- writing


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _row(row: Row, n: int) -> str:
    f, op, vals = row.field, row.op, row.values
    if op not in ARITY:
        raise BuildError(_("condition row {n}: unknown operator '{op}'; choose one from the list", n=n, op=op))
    want = ARITY[op]
    if (want >= 0 and len(vals) != want) or (want < 0 and not vals):
        raise BuildError(_("condition row {n} ({field}): give {count} value(s) for '{op}'", n=n, field=f,
                           count=want if want >= 0 else "1+", op=_(OPERATORS[op])))
    if any(v in ("", None) for v in vals):
        raise BuildError(_("condition row {n} ({field}): a value is empty; choose or type it", n=n, field=f))
    if op in _SIGN:
        return f"{f} {_SIGN[op]} {_literal(vals[0])}"
    if op == "between":
        return f"({f} >= {_literal(vals[0])} and {f} <= {_literal(vals[1])})"
    if op in ("in", "not_in"):
        items = ", ".join(_literal(v) for v in vals)
        return f"{f} {'in' if op == 'in' else 'not in'} [{items}]"
    if op == "contains":
        return f"{_literal(vals[0])} in {f}"
    if op == "empty":
        return f"{f} is none"
    if op == "not_empty":
        return f"{f} is not none"
    return f if op == "yes" else f"not {f}"


def build(cond: Condition) -> str:
    """The expression of ``cond``: its rows joined by `` and `` or `` or ``."""
    if cond.join not in ("and", "or"):
        raise BuildError(_("join the condition rows with 'and' or 'or'"))
    rows = [r for r in cond.rows if r.field]
    if not rows:
        raise BuildError(_("the condition has no row; choose a field"))
    return f" {cond.join} ".join(_row(r, n) for n, r in enumerate(rows, start=1))


# --------------------------------------------------------------------------- reading

_F = r"([a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)"
_V = r"""("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false)"""
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("between", re.compile(rf"^\({_F} >= {_V} and {_F} <= {_V}\)$")),
    ("cmp", re.compile(rf"^{_F} (==|!=|>=|<=|>|<) {_V}$")),
    ("member", re.compile(rf"^{_F} (in|not in) \[(.+)\]$")),
    ("contains", re.compile(rf"^{_V} in {_F}$")),
    ("empty", re.compile(rf"^{_F} is (not )?none$")),
    ("truth", re.compile(rf"^(not )?{_F}$")),
]
_OP_OF = {v: k for k, v in _SIGN.items()}


def _value(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text in ("true", "false"):
        return text == "true"
    return float(text) if "." in text else int(text)


def _read_row(text: str) -> Row | None:
    for name, pattern in _PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        g = m.groups()
        if name == "between":
            return Row(g[0], "between", (_value(g[1]), _value(g[3]))) if g[0] == g[2] else None
        if name == "cmp":
            return Row(g[0], _OP_OF[g[1]], (_value(g[2]),))
        if name == "member":
            items = [i.strip() for i in split_top(g[2], ",")]
            if not all(re.fullmatch(_V, i) for i in items):
                return None
            return Row(g[0], "in" if g[1] == "in" else "not_in", tuple(_value(i) for i in items))
        if name == "contains":
            return Row(g[1], "contains", (_value(g[0]),))
        if name == "empty":
            return Row(g[0], "not_empty" if g[1] else "empty")
        return Row(g[1], "no" if g[0] else "yes")
    return None


def parse(source: str) -> Condition | None:
    """``source`` as picker rows, or None when the rows would not write it back as it is
    (mixed and/or, functions, arithmetic…): then the code box shows it, unchanged."""
    text = source.strip()
    if not text:
        return None
    for join in ("or", "and"):
        parts = split_top(text, f" {join} ")
        if len(parts) > 1 or join == "and":
            rows = [_read_row(p) for p in parts]
            if any(r is None for r in rows):
                return None
            cond = Condition(join, tuple(r for r in rows if r is not None))
            try:
                return cond if build(cond) == source else None
            except BuildError:
                return None
    return None  # pragma: no cover - the loop always returns


# --------------------------------------------------------------------------- due dates


@dataclass(frozen=True)
class DueDate:
    """Due on a date field, with an offset: ``amount`` days (a date) or hours or days (a
    date-time) after it; 0 is the field itself."""

    field: str
    amount: int = 0
    unit: str = "days"  # days or hours


def build_due(due: DueDate, fmt: str | None) -> str:
    """``due_expr`` of a due date: the field itself, or ``date(F) + days(N)`` /
    ``datetime(F) + hours(N)``."""
    if not due.field:
        raise BuildError(_("choose the date field the deadline is counted from"))
    if due.unit not in ("days", "hours"):
        raise BuildError(_("count the offset in days or hours"))
    if not due.amount:
        return due.field
    wrap = "datetime" if fmt == "date-time" or due.unit == "hours" else "date"
    return f"{wrap}({due.field}) + {due.unit}({due.amount})"


_DUE = re.compile(rf"^(date|datetime)\({_F}\) \+ (days|hours)\((\d+)\)$")


def parse_due(source: str, fmts: Mapping[str, str | None]) -> DueDate | None:
    """``source`` as a due date when writing it back gives it unchanged; ``fmts`` maps the
    date fields offered to their format."""
    text = source.strip()
    if text in fmts:
        return DueDate(text)
    m = _DUE.match(text)
    if not m or m.group(2) not in fmts:
        return None
    due = DueDate(m.group(2), int(m.group(4)), m.group(3))
    try:
        return due if build_due(due, fmts[due.field]) == source else None
    except BuildError:
        return None


def typed_row(field: str, op: str, values: Sequence[str], kind: str, n: int) -> Row:
    """Row ``n`` as a form posts it: the values as typed (the values of ``in``, ``not_in`` and
    ``between`` may come in one text, separated by commas), made numbers for a number field
    and yes/no for a yes/no one."""
    arity = ARITY.get(op, 1)
    parts = [v.strip() for v in values if v.strip()]
    if arity == 0:
        parts = []
    elif arity != 1 and len(parts) == 1:
        parts = [p.strip() for p in re.split(r"[,，、]", parts[0]) if p.strip()]
    typed: list[Any] = []
    for p in parts:
        if kind == "number":
            try:
                num = float(p)
            except ValueError:
                raise BuildError(_("condition row {n} ({field}): '{value}' is not a number; write e.g. 12.5",
                                   n=n, field=field, value=p)) from None
            typed.append(int(p) if re.fullmatch(r"-?\d+", p) else num)  # 30.0 stays written 30.0
        elif kind == "boolean" and p in ("true", "false"):
            typed.append(p == "true")
        else:
            typed.append(p)
    return Row(field, op, tuple(typed))
