"""What kind of value each part of an expression gives, checked before anyone runs it.

The expression language is dynamic: a number field compared with ``"95"`` is simply never
equal, an approval's ``decision`` compared with ``"approved"`` is never true, and text minus
a number fails only when someone submits the form that leads there. ``check_types`` knows the
type and the allowed values of every field (from the form schemas, and ``decision``/``comment``
of approvals) and reports such mistakes at load time, each with the place in the expression
(an offset into its source) and the fix.

Unknown kinds (a field of a form that could not be read, the result of ``min`` over mixed
values) are never reported: a check only speaks when it is sure.

Pure module: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jinja2 import nodes
from jinja2.parser import Parser

from engine.i18n import _
from engine.language.suggest import suggest

__all__ = ["Kind", "UNKNOWN", "approval_kinds", "check_types", "form_kinds", "result_kind"]


@dataclass(frozen=True)
class Kind:
    """The static type of a value.

    ``kind`` is one of text, number, boolean, list, object, date, datetime, duration, none,
    or None when not known. ``fmt`` is ``date``/``date-time`` for text fields that hold a
    date (forms store dates as ISO text). ``choices`` are the only values a field can hold;
    ``columns`` the row fields of a table; ``item`` the kind of a list's items.
    ``name`` is the field path when the value is a field (for messages), ``literal`` the
    value of a constant.
    """

    kind: str | None
    fmt: str | None = None
    choices: tuple[Any, ...] | None = None
    columns: Mapping[str, Kind] | None = field(default=None, compare=False)
    item: Kind | None = field(default=None, compare=False)
    min_items: int = 0
    name: str = ""
    literal: Any = None
    has_literal: bool = False
    label: str = ""  # how messages name a computed value, e.g. "today()"


UNKNOWN = Kind(None)
_NUMBER = Kind("number")
_BOOL = Kind("boolean")
_TEXT = Kind("text")
_DURATION = Kind("duration")

def approval_kinds(step_id: str, decisions: tuple[str, ...], *, party: bool = False) -> dict[str, Kind]:
    """What an approval step records: ``decision`` (one of ``decisions``) and ``comment``;
    a multi-party one (``party``) also the number of ``approvals`` and ``rejections`` and
    the list of user names of its ``approvers`` who approved."""
    out = {f"{step_id}.decision": Kind("text", choices=decisions, name=f"{step_id}.decision"),
           f"{step_id}.comment": Kind("text", name=f"{step_id}.comment")}
    if party:
        out[f"{step_id}.approvals"] = Kind("number", name=f"{step_id}.approvals")
        out[f"{step_id}.rejections"] = Kind("number", name=f"{step_id}.rejections")
        out[f"{step_id}.approvers"] = Kind("list", item=_TEXT, name=f"{step_id}.approvers")
    return out


_SCHEMA_KINDS = {"string": "text", "number": "number", "integer": "number", "boolean": "boolean",
                 "array": "list", "object": "object", "null": "none"}


def _schema_kind(schema: Mapping[str, Any], name: str) -> Kind:
    t = schema.get("type")
    if isinstance(t, list):
        types = [x for x in t if x != "null"]
        t = types[0] if len(types) == 1 else None
    kind = _SCHEMA_KINDS.get(t) if isinstance(t, str) else None
    enum = schema.get("enum")
    if enum is None and "const" in schema:
        enum = [schema["const"]]
    choices = tuple(enum) if isinstance(enum, list) else None
    fmt = schema.get("format") if kind == "text" and schema.get("format") in ("date", "date-time") else None
    columns = None
    item = None
    if kind == "list" and isinstance(schema.get("items"), dict):
        items = schema["items"]
        item = _schema_kind(items, name + "[]")
        if isinstance(items.get("properties"), dict):
            columns = {str(k): _schema_kind(v, str(k)) for k, v in items["properties"].items()
                       if isinstance(v, dict)}
    min_items = schema.get("minItems")
    return Kind(kind, fmt, choices, columns, item,
                min_items if isinstance(min_items, int) and not isinstance(min_items, bool) else 0,
                name)


def form_kinds(schema: Mapping[str, Any], prefix: str) -> dict[str, Kind]:
    """``prefix.FIELD`` (dotted through groups) -> Kind for every field of a form schema."""
    out: dict[str, Kind] = {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return out
    for key, sub in props.items():
        if not isinstance(sub, dict):
            continue
        path = f"{prefix}.{key}"
        out[path] = _schema_kind(sub, path)
        if isinstance(sub.get("properties"), dict):
            out.update(form_kinds(sub, path))
    return out


def _describe(k: Kind) -> str:
    if k.kind == "text" and k.fmt == "date":
        return _("a date stored as text")
    if k.kind == "text" and k.fmt == "date-time":
        return _("a date-time stored as text")
    if k.kind == "list" and k.columns is not None:
        return _("a table")
    return kind_words().get(k.kind or "", _("a value"))


def kind_words() -> dict[str, str]:
    """How messages name each kind of value, in the reader's language."""
    return {"text": _("text"), "number": _("a number"), "boolean": _("a yes/no value"), "list": _("a list"),
            "object": _("a group of fields"), "date": _("a date"), "datetime": _("a date-time"),
            "duration": _("a duration"), "none": _("none")}


def _quoted(name: str) -> str:
    """A name the user wrote, quoted as the reader's language quotes it ('x' in English)."""
    return _("'{name}'", name=name)


def _shown(k: Kind) -> str:
    if k.name:
        return _quoted(k.name)
    if k.has_literal:
        return repr(k.literal) if not isinstance(k.literal, str) else f'"{k.literal}"'
    return _quoted(k.label) if k.label else _("the other side")


def _choices(k: Kind) -> str:
    return ", ".join(str(c) for c in (k.choices or ()))


class _Problem(Exception):
    def __init__(self, message: str, needle: str) -> None:
        super().__init__(message)
        self.message = message
        self.needle = needle


_FILTER_KINDS = {"int": _NUMBER, "float": _NUMBER, "round": _NUMBER, "abs": _NUMBER,
                 "length": _NUMBER, "string": _TEXT, "lower": _TEXT, "upper": _TEXT, "join": _TEXT}
_DATE_KINDS = ("date", "datetime")


def _is_dateish(k: Kind) -> bool:
    return k.kind in _DATE_KINDS or (k.kind == "text" and k.fmt is not None)


class _Typer:
    def __init__(self, source: str, kinds: Mapping[str, Kind]) -> None:
        self.source = source
        self.kinds = kinds
        self.problems: list[tuple[int, str]] = []

    # -- reporting --------------------------------------------------------------------
    def report(self, message: str, *needles: str) -> None:
        offset = 0
        for needle in needles:
            if needle:
                found = self.source.find(needle)
                if found >= 0:
                    offset = found
                    break
        entry = (offset, message)
        if entry not in self.problems:
            self.problems.append(entry)

    def needle(self, k: Kind) -> str:
        if k.name:
            return k.name
        if k.has_literal and isinstance(k.literal, str):
            for quote in ('"', "'"):
                if f"{quote}{k.literal}{quote}" in self.source:
                    return f"{quote}{k.literal}{quote}"
        if k.has_literal:
            return str(k.literal)
        return ""

    def source_of(self, node: nodes.Node) -> str:
        path = self.path(node)
        if path is not None:
            return path
        if isinstance(node, nodes.Const):
            return repr(node.value)
        return "..."

    # -- names ------------------------------------------------------------------------
    def path(self, node: nodes.Node) -> str | None:
        if isinstance(node, nodes.Name):
            return node.name
        if isinstance(node, nodes.Getattr):
            base = self.path(node.node)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def lookup(self, path: str) -> Kind:
        if path in self.kinds:
            return self.kinds[path]
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            base = ".".join(parts[:i])
            k = self.kinds.get(base)
            if k is None:
                continue
            for part in parts[i:]:
                k = self.member(k, part, path)
            return k
        return UNKNOWN

    def member(self, k: Kind, part: str, path: str) -> Kind:
        if k.kind == "list":
            if part.isdigit():
                return self.row(k, int(part), path)
            if k.columns is not None:
                hint = f"sum_of({k.name}, '{part}')" if part in k.columns else f"column({k.name}, 'COLUMN')"
                self.report(_("'{table}' is a table with one row per entry, so '{path}' has no single value; "
                              "read a column with {hint}, count(), any(column(...)) or all(column(...))",
                              table=k.name, path=path, hint=hint), path)
            else:
                self.report(_("'{name}' is a list; '{part}' is not one of its parts", name=k.name, part=part), path)
            return UNKNOWN
        if k.kind in ("text", "number", "boolean", "date", "datetime", "duration"):
            self.report(_("'{name}' is {kind}; it has no field '{part}'", name=k.name, kind=_describe(k), part=part),
                        path)
        return UNKNOWN

    def row(self, k: Kind, index: int, where: str) -> Kind:
        needed = index + 1 if index >= 0 else -index
        if k.min_items < needed:
            self.report(_("row {index} of '{table}' may not exist: the form asks for at least "
                          "{n} row(s) (minItems); use column(), sum_of(), count(), "
                          "any() or all() over the rows instead", index=index, table=k.name, n=k.min_items),
                        where)
        if k.columns is not None:
            return Kind("object", columns=k.columns, name=f"{k.name}[{index}]")
        return k.item or UNKNOWN

    # -- the walk -----------------------------------------------------------------------
    def kind(self, node: nodes.Node) -> Kind:  # noqa: C901 - one branch per node type
        if isinstance(node, nodes.Const):
            v = node.value
            kind = ("none" if v is None else "boolean" if isinstance(v, bool)
                    else "number" if isinstance(v, int | float) else "text" if isinstance(v, str) else None)
            return Kind(kind, literal=v, has_literal=True)
        if isinstance(node, nodes.Name | nodes.Getattr):
            path = self.path(node)
            if path is not None:
                return self.lookup(path)
            assert isinstance(node, nodes.Getattr)
            base = self.kind(node.node)
            if base.kind == "object" and base.columns is not None:
                return base.columns.get(node.attr, UNKNOWN)
            return UNKNOWN
        if isinstance(node, nodes.Getitem):
            base = self.kind(node.node)
            if isinstance(node.arg, nodes.Slice):
                for part in (node.arg.start, node.arg.stop, node.arg.step):
                    if part is not None:
                        self.kind(part)
                return Kind(base.kind) if base.kind in ("text", "list") else UNKNOWN
            index = self.kind(node.arg)
            if base.kind == "list" and isinstance(node.arg, nodes.Const) and type(node.arg.value) is int:
                return self.row(base, node.arg.value, base.name)
            if base.kind == "object" and base.columns is not None and isinstance(index.literal, str):
                return base.columns.get(index.literal, UNKNOWN)
            return UNKNOWN
        if isinstance(node, nodes.Compare):
            left = self.kind(node.expr)
            for op in node.ops:
                right = self.kind(op.expr)
                self.compare(op.op, left, right)
                left = right
            return _BOOL
        if isinstance(node, nodes.Add | nodes.Sub | nodes.Mul | nodes.Div | nodes.FloorDiv | nodes.Mod):
            return self.arith(node, self.kind(node.left), self.kind(node.right))
        if isinstance(node, nodes.Neg | nodes.Pos):
            k = self.kind(node.node)
            if k.kind in ("text", "boolean", "list", "object", "date", "datetime"):
                self.report(_("a sign ('-' or '+') applies to numbers, but {value} is {kind}",
                              value=_shown(k), kind=_describe(k)), self.needle(k))
                return UNKNOWN
            return k if k.kind in ("number", "duration") else UNKNOWN
        if isinstance(node, nodes.Not):
            self.kind(node.node)
            return _BOOL
        if isinstance(node, nodes.And | nodes.Or):
            a, b = self.kind(node.left), self.kind(node.right)
            return a if a.kind == b.kind and a.kind is not None else UNKNOWN
        if isinstance(node, nodes.CondExpr):
            self.kind(node.test)
            a = self.kind(node.expr1)
            b = self.kind(node.expr2) if node.expr2 is not None else Kind("none")
            if b.kind == "none":
                return Kind(a.kind, a.fmt)
            if a.kind == "none":
                return Kind(b.kind, b.fmt)
            return Kind(a.kind, a.fmt if a.fmt == b.fmt else None) if a.kind == b.kind else UNKNOWN
        if isinstance(node, nodes.List | nodes.Tuple):
            items = [self.kind(x) for x in node.items]
            kinds = {i.kind for i in items}
            return Kind("list", item=Kind(kinds.pop()) if len(kinds) == 1 else UNKNOWN,
                        literal=[i.literal for i in items] if all(i.has_literal for i in items) else None,
                        has_literal=all(i.has_literal for i in items))
        if isinstance(node, nodes.Dict):
            for pair in node.items:
                self.kind(pair.key)
                self.kind(pair.value)
            return Kind("object")
        if isinstance(node, nodes.Filter):
            base = self.kind(node.node) if node.node is not None else UNKNOWN
            for arg in node.args:
                self.kind(arg)
            if node.name == "default":
                return UNKNOWN
            if node.name in ("int", "float", "round", "abs") and base.kind in ("list", "object", "date", "datetime"):
                self.report(_("the filter '{filter}' works on numbers and number text, but {value} is {kind}",
                              filter=node.name, value=_shown(base), kind=_describe(base)),
                            self.needle(base), node.name)
            return _FILTER_KINDS.get(node.name, UNKNOWN)
        if isinstance(node, nodes.Test):
            self.kind(node.node)
            return _BOOL
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            result = self.call(node.node.name, node.args)
            if result.kind is not None and not result.name:
                args = ", ".join(self.source_of(a) for a in node.args)
                result = replace(result, label=f"{node.node.name}({args})")
            return result
        return UNKNOWN

    # -- comparisons --------------------------------------------------------------------
    def compare(self, op: str, a: Kind, b: Kind) -> None:
        if op in ("eq", "ne"):
            self.equality(op, a, b)
        elif op in ("in", "notin"):
            self.membership(a, b)
        elif op in ("lt", "gt", "lteq", "gteq"):
            self.order(a, b)

    def equality(self, op: str, a: Kind, b: Kind) -> None:
        if a.kind is None or b.kind is None or "none" in (a.kind, b.kind):
            return
        for field_, other in ((a, b), (b, a)):
            if field_.choices is not None and other.has_literal and field_.kind == other.kind \
                    and other.literal not in field_.choices:
                hint = suggest(str(other.literal), [str(c) for c in field_.choices])
                self.report(_not_a_choice(op, _shown(other), _shown(field_), hint, _choices(field_)),
                            self.needle(other), self.needle(field_))
                return
        if a.kind == b.kind:
            if a.kind == "text" and (a.fmt is None) != (b.fmt is None) and not (a.has_literal or b.has_literal):
                pass  # a date text against other text: may well be meant
            return
        never = _("they are never equal") if op == "eq" else _("they are always different")
        self.report(self.mismatch(a, b, never), self.needle(b), self.needle(a))

    def mismatch(self, a: Kind, b: Kind, outcome: str) -> str:
        message = _("{a} is {a_kind} and {b} is {b_kind}: {outcome}",
                    a=_shown(a), a_kind=_describe(a), b=_shown(b), b_kind=_describe(b), outcome=outcome)
        for x, y in ((a, b), (b, a)):
            if x.kind == "number" and y.has_literal and isinstance(y.literal, str) \
                    and re.fullmatch(r"-?\d+(\.\d+)?", y.literal):
                return message + _("; write the number without quotes: {number}", number=y.literal)
            if x.kind == "text" and x.choices and y.has_literal:
                return message + _("; its choices are: {choices}", choices=_choices(x))
            if x.kind == "boolean" and y.has_literal and isinstance(y.literal, str):
                return message + _("; write true or false without quotes")
            if x.kind == "text" and x.fmt and y.kind in _DATE_KINDS:
                fn = "date" if x.fmt == "date" else "datetime"
                convert = f"{fn}({x.name or '...'})"
                return message + _("; convert it first: {convert}", convert=convert)
            if x.kind == "number" and y.kind == "text" and y.name:
                return message + _("; convert the text with {name}|float", name=y.name)
        return message

    def membership(self, a: Kind, b: Kind) -> None:
        if b.kind == "list" and b.has_literal and a.choices is not None:
            for value in b.literal or ():
                if value not in a.choices:
                    self.report(_("{value} is not a choice of {field}, so it can never match; its choices are: {choices}",
                                  value=_shown(Kind(None, literal=value, has_literal=True)), field=_shown(a),
                                  choices=_choices(a)),
                                self.needle(Kind(None, literal=value, has_literal=True)))
        elif b.kind == "list" and b.item is not None and b.item.choices is not None and a.has_literal \
                and a.literal not in b.item.choices:
            self.report(_("{value} is not a choice of {field}, so it is never in it; its choices are: {choices}",
                          value=_shown(a), field=_shown(b), choices=_choices(b.item)), self.needle(a))
        elif b.kind in ("number", "boolean", "date", "datetime", "duration"):
            self.report(_("'in' looks inside a list or a text, but {value} is {kind}",
                          value=_shown(b), kind=_describe(b)), self.needle(b))
        elif b.kind == "text" and a.kind in ("number", "boolean", "list", "object"):
            self.report(self.mismatch(a, b, _("'in' on text looks for text only")), self.needle(a))

    def order(self, a: Kind, b: Kind) -> None:
        if a.kind is None or b.kind is None:
            return
        if "none" in (a.kind, b.kind):
            other = a if b.kind == "none" else b
            self.report(_("{value} cannot be ordered against none; test 'is none' or 'is not none' instead",
                          value=_shown(other)), "none")
            return
        if a.kind in ("boolean", "list", "object") or b.kind in ("boolean", "list", "object"):
            odd = a if a.kind in ("boolean", "list", "object") else b
            self.report(_("{value} is {kind} and cannot be ordered with <, >, <= or >=",
                          value=_shown(odd), kind=_describe(odd)), self.needle(odd))
            return
        if a.kind != b.kind:
            self.report(self.mismatch(a, b, _("they cannot be ordered (this fails when it runs)")),
                        self.needle(b), self.needle(a))
        elif a.choices and b.has_literal and b.literal not in a.choices:
            self.report(_("{value} is not a choice of {field}; its choices are: {choices}",
                          value=_shown(b), field=_shown(a), choices=_choices(a)), self.needle(b))

    # -- arithmetic ---------------------------------------------------------------------
    def arith(self, node: nodes.BinExpr, a: Kind, b: Kind) -> Kind:
        op = node.operator
        if a.kind is None or b.kind is None:
            return UNKNOWN
        pair = (a.kind, b.kind)
        if op == "+":
            if a.kind == b.kind and a.kind in ("number", "text", "list", "duration"):
                return Kind(a.kind)
            if pair in (("date", "duration"), ("duration", "date")):
                return Kind("date")
            if pair in (("datetime", "duration"), ("duration", "datetime")):
                return Kind("datetime")
        elif op == "-":
            if a.kind == b.kind and a.kind in ("number", "duration"):
                return Kind(a.kind)
            if a.kind == b.kind and a.kind in _DATE_KINDS:
                return _DURATION
            if b.kind == "duration" and a.kind in _DATE_KINDS:
                return Kind(a.kind)
        elif op == "*":
            if pair == ("number", "number"):
                return _NUMBER
            if "number" in pair and ("duration" in pair or "text" in pair or "list" in pair):
                return Kind(a.kind if b.kind == "number" else b.kind)
        elif pair == ("number", "number") or (a.kind == "duration" and b.kind in ("number", "duration")):
            return _NUMBER if b.kind == "duration" or a.kind == "number" else _DURATION
        fix = ""
        for x in (a, b):
            if x.kind == "text" and x.fmt and x.name:
                fn = "date" if x.fmt == "date" else "datetime"
                convert = f"{fn}({x.name}) {op} ..."
                fix = _("; convert it first: {convert}", convert=convert)
                break
            if x.kind == "text" and x.name and op != "+":
                fix = _("; if it holds a number, convert it: {name}|float", name=x.name)
                break
            if x.kind == "text" and "number" in pair:
                fix = _("; turn the number into text with |string, or the text into a number with |float")
                break
        first = a if a.kind != "number" else b
        said = {"a": _describe(a), "b": _describe(b), "value": _shown(first), "kind": _describe(first)}
        if op == "+":
            message = _("cannot add {a} and {b} ({value} is {kind})", **said)
        elif op == "-":
            message = _("cannot subtract {a} and {b} ({value} is {kind})", **said)
        elif op == "*":
            message = _("cannot multiply {a} and {b} ({value} is {kind})", **said)
        elif op == "%":
            message = _("cannot take the remainder of {a} and {b} ({value} is {kind})", **said)
        else:
            message = _("cannot divide {a} and {b} ({value} is {kind})", **said)
        self.report(message + fix, self.needle(first), op)
        return UNKNOWN

    # -- functions ----------------------------------------------------------------------
    def call(self, name: str, args: list[nodes.Expr]) -> Kind:  # noqa: C901
        kinds = [self.kind(a) for a in args]
        first = kinds[0] if kinds else UNKNOWN
        if name in ("date", "datetime", "local_date", "month_start", "month_end", "next_workday",
                    "workday_on_or_after", "at"):
            if first.kind in ("number", "boolean", "list", "object", "duration"):
                self.report(_("{fn}() needs a date, a date-time or ISO text, but {value} is {kind}",
                              fn=name, value=_shown(first), kind=_describe(first)), self.needle(first), name)
            elif first.kind == "text" and first.name and first.fmt is None and name != "at":
                self.report(_("{fn}() needs a date: '{name}' is free text; make it a date field "
                              "(format: date) or use a field that is one", fn=name, name=first.name), first.name)
            if name == "at" and len(kinds) > 1 and kinds[1].has_literal and not (
                    isinstance(kinds[1].literal, str) and re.fullmatch(r"\d\d:\d\d", kinds[1].literal)):
                self.report(_("at() takes the local time as \"HH:MM\" text, e.g. at(today(), \"17:30\")"),
                            self.needle(kinds[1]), name)
            return Kind("datetime" if name in ("datetime", "at") else "date")
        if name in ("today",):
            return Kind("date")
        if name == "now":
            return Kind("datetime")
        if name in ("days", "hours", "minutes", "workdays"):
            if first.kind is not None and first.kind != "number":
                fix = _("; convert it: {name}|int", name=first.name) if first.kind == "text" and first.name else ""
                self.report(_("{fn}() needs a number, but {value} is {kind}",
                              fn=name, value=_shown(first), kind=_describe(first)) + fix,
                            self.needle(first), name)
            return _DURATION if name != "workdays" else Kind("date")
        if name in ("len",):
            return _NUMBER
        if name in ("any", "all"):
            return _BOOL
        if name == "sum":
            if first.kind == "list" and first.columns is not None:
                numeric = [c for c, k in first.columns.items() if k.kind == "number"]
                col = numeric[0] if numeric else "COLUMN"
                fix = f"sum_of({first.name}, '{col}')"
                self.report(_("sum() adds a list of numbers, but {value} is a table; add up one column "
                              "with {fix}", value=_shown(first), fix=fix),
                            self.needle(first), "sum")
            elif first.kind == "list" and first.item is not None and first.item.kind not in (None, "number"):
                self.report(_("sum() adds numbers, but the items of {value} are {kind}",
                              value=_shown(first), kind=_describe(first.item)), self.needle(first), "sum")
            elif first.kind is not None and first.kind != "list":
                self.report(_("sum() adds a list of numbers, but {value} is {kind}",
                              value=_shown(first), kind=_describe(first)), self.needle(first), "sum")
            return _NUMBER
        if name in ("min", "max"):
            if len(kinds) == 1:
                return Kind(first.item.kind) if first.kind == "list" and first.item is not None else UNKNOWN
            known = {k.kind for k in kinds}
            return Kind(known.pop()) if len(known) == 1 else UNKNOWN
        if name in ("count", "column", "sum_of", "weighted_sum", "avg_of", "count_if"):
            return self.table_call(name, args, kinds)
        if name == "days_between":
            for k in kinds:
                if k.kind in ("number", "boolean", "list", "object", "duration"):
                    self.report(_("days_between() counts the days between two dates, but {value} is {kind}",
                                  value=_shown(k), kind=_describe(k)), self.needle(k), name)
                elif k.kind == "text" and k.name and k.fmt is None:
                    self.report(_("days_between() needs dates: '{name}' is free text; make it a date field "
                                  "(format: date) or use a field that is one", name=k.name), k.name)
            return _NUMBER
        return UNKNOWN

    def table_call(self, name: str, args: list[nodes.Expr], kinds: list[Kind]) -> Kind:
        table = kinds[0]
        if table.kind is not None and table.kind != "list":
            self.report(_("{fn}() reads the rows of a table, but {value} is {kind}",
                          fn=name, value=_shown(table), kind=_describe(table)), self.needle(table), name)
            return UNKNOWN
        cols = [kinds[i] for i in range(1, 3 if name == "weighted_sum" else 2)]
        picked: list[Kind] = []
        for ck in cols:
            if not (ck.has_literal and isinstance(ck.literal, str)):
                example = f"{name}({table.name or 'TABLE'}, 'score')"
                self.report(_("{fn}() names its column as quoted text, e.g. {example}", fn=name, example=example),
                            self.needle(ck), name)
                return UNKNOWN
            if table.columns is None:
                picked.append(UNKNOWN)
                continue
            if ck.literal not in table.columns:
                hint = suggest(ck.literal, list(table.columns))
                columns = ", ".join(table.columns)
                if hint:
                    message = _("'{column}' is not a column of '{table}'; did you mean '{hint}'? columns: {columns}",
                                column=ck.literal, table=table.name, hint=hint, columns=columns)
                else:
                    message = _("'{column}' is not a column of '{table}'; columns: {columns}",
                                column=ck.literal, table=table.name, columns=columns)
                self.report(message, self.needle(ck))
                return UNKNOWN
            col = table.columns[ck.literal]
            picked.append(Kind(col.kind, col.fmt, col.choices, name=f"{table.name}.{ck.literal}"))
        if name in ("sum_of", "weighted_sum", "avg_of"):
            for ck in picked:
                if ck.kind is not None and ck.kind != "number":
                    said = {"fn": name, "column": _shown(ck), "kind": _describe(ck)}
                    self.report(_("{fn}() averages numbers, but the column {column} is {kind}", **said)
                                if name == "avg_of" else
                                _("{fn}() adds numbers, but the column {column} is {kind}", **said),
                                self.needle(Kind(None, literal=ck.name.rsplit('.', 1)[1], has_literal=True)), name)
            return _NUMBER
        if name == "count":
            if picked and len(kinds) > 2:
                self.equality("eq", picked[0], kinds[2])
            return _NUMBER
        if name == "count_if":
            op = kinds[2] if len(kinds) > 2 else UNKNOWN
            ops = ("==", "!=", "<", "<=", ">", ">=")
            if not (op.has_literal and op.literal in ops):
                example = f"count_if({table.name or 'TABLE'}, 'score', '<', 60)"
                self.report(_("count_if() takes the comparison as quoted text, one of {ops}: e.g. {example}",
                              ops=", ".join(ops), example=example),
                            self.needle(op), name)
            elif picked and len(kinds) > 3:
                if op.literal in ("==", "!="):
                    self.equality("eq" if op.literal == "==" else "ne", picked[0], kinds[3])
                else:
                    self.order(picked[0], kinds[3])
            return _NUMBER
        return Kind("list", item=picked[0] if picked else UNKNOWN)


def _not_a_choice(op: str, value: str, field_: str, hint: str | None, choices: str) -> str:
    said = {"value": value, "field": field_, "choices": choices}
    if op == "eq":
        if hint:
            return _("{value} is not a choice of {field}, so they are never equal; did you mean \"{hint}\"? "
                     "its choices are: {choices}", hint=hint, **said)
        return _("{value} is not a choice of {field}, so they are never equal; its choices are: {choices}", **said)
    if hint:
        return _("{value} is not a choice of {field}, so they are always different; did you mean \"{hint}\"? "
                 "its choices are: {choices}", hint=hint, **said)
    return _("{value} is not a choice of {field}, so they are always different; its choices are: {choices}", **said)


def _parse(source: str) -> nodes.Expr:
    from engine.language.expressions import _ENV

    return Parser(_ENV, source, state="variable").parse_expression()


def check_types(source: str, kinds: Mapping[str, Kind]) -> list[tuple[int, str]]:
    """Type mistakes in an expression (that compiled) as ``(offset, message)`` pairs."""
    typer = _Typer(source, kinds)
    typer.kind(_parse(source))
    return typer.problems


def result_kind(source: str, kinds: Mapping[str, Kind]) -> tuple[Kind, list[tuple[int, str]]]:
    """The kind an expression gives, with its type mistakes (as ``check_types``)."""
    typer = _Typer(source, kinds)
    return typer.kind(_parse(source)), typer.problems
