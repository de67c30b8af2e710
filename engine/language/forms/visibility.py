"""``x-visible-if``: which fields a submission shows, and the data without the hidden ones.

Only forms that use ``x-visible-if`` pay for it: :func:`build` returns ``None`` for the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import ExpressionError
from engine.language.forms.schema import DataPath, Schema

if TYPE_CHECKING:
    from engine.language.expressions import Expr

#: A submitted object (the form's data, a group or a table row): field name to JSON value.
Data = dict[str, Any]

#: The compiled ``x-visible-if`` of each field, by its data path (``("items", "note")``).
Expressions = dict[tuple[str, ...], "Expr"]


class _Cond:
    """A field with ``x-visible-if`` inside one object schema.

    Evaluating an expression costs several microseconds, and table rows mostly repeat the
    same few values, so results are memoised by the values of the names the expression
    reads (not for expressions that call ``now()``).
    """

    __slots__ = ("name", "expr", "required", "names", "memo")

    MEMO_SIZE = 256

    def __init__(self, name: str, expr: Expr, required: bool) -> None:
        self.name = name
        self.expr = expr
        self.required = required
        uses_clock = "now" in expr.source
        self.names = None if uses_clock else tuple(n.split(".") for n in sorted(expr.names))
        self.memo: dict[tuple[object, ...], bool | None] = {}

    def visible(self, context: Data) -> bool | None:
        """True or False; None when the condition cannot be evaluated on ``context``."""
        if self.names is None:
            return _visible(self.expr, context)
        key = tuple(_memo_key(_lookup(context, parts)) for parts in self.names)
        try:
            return self.memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value (a list): no memo
            return _visible(self.expr, context)
        result = _visible(self.expr, context)
        if len(self.memo) >= self.MEMO_SIZE:
            self.memo.clear()
        self.memo[key] = result
        return result


def _lookup(context: Any, parts: list[str]) -> object:
    for part in parts:
        if context is None:
            return None
        if not isinstance(context, dict):
            return _NO_MEMO  # e.g. an index into a list: evaluate every time
        context = context.get(part)
    return context


_NO_MEMO: list[object] = []  # unhashable: makes the memo lookup fail with TypeError


def _memo_key(value: object) -> tuple[type, object]:
    # True == 1 == 1.0 share a hash; keep them apart, an expression may tell them apart.
    return (type(value), value)


class VisNode:
    """Where ``x-visible-if`` fields sit in an object schema: its own and those below it."""

    __slots__ = ("conds", "children", "arrays", "chained")

    def __init__(self) -> None:
        self.conds: list[_Cond] = []
        self.chained = False  # some condition reads a field that is itself conditional
        self.children: dict[str, VisNode] = {}  # property holding an object
        self.arrays: dict[str, VisNode] = {}  # property holding an array of objects

    def empty(self) -> bool:
        return not (self.conds or self.children or self.arrays)


def build(schema: Schema, exprs: Expressions) -> VisNode | None:
    """Where the compiled ``x-visible-if`` expressions (``exprs``, by data path) sit in
    ``schema``; ``None`` when the form has none."""
    node = _build(schema, (), exprs)
    return None if node.empty() else node


def _build(schema: Schema, spath: tuple[str, ...], exprs: Expressions) -> VisNode:
    node = VisNode()
    props = schema.get("properties")
    if not isinstance(props, dict):
        return node
    required = schema.get("required")
    if not isinstance(required, list):
        required = []
    for name, sub in props.items():
        if not isinstance(sub, dict):
            continue
        path = (*spath, name)
        expr = exprs.get(path)
        if expr is not None:
            node.conds.append(_Cond(name, expr, name in required))
        if isinstance(sub.get("properties"), dict):
            child = _build(sub, path, exprs)
            if not child.empty():
                node.children[name] = child
        items = sub.get("items")
        if isinstance(items, dict) and isinstance(items.get("properties"), dict):
            child = _build(items, path, exprs)
            if not child.empty():
                node.arrays[name] = child
    conditional = {c.name for c in node.conds}
    node.chained = any(
        n.split(".", 1)[0] in conditional for c in node.conds for n in c.expr.names
    )
    return node


def _visible(expr: Expr, context: Data) -> bool | None:
    """None when the expression fails to evaluate (e.g. compares a missing number with 3).

    Such a field is kept with whatever the operator typed (never silently dropped) but is not
    required: the condition that would require it cannot be decided.
    """
    try:
        return bool(expr.evaluate(context))
    except ExpressionError:
        return None


def clean_object(node: VisNode, obj: Data, path: DataPath, missing: list[DataPath] | None) -> Data:
    out = obj
    if node.conds:
        # Hiding one field may change the visibility of another that refers to it: then
        # repeat until stable (bounded, the rules could in principle flip-flop).
        seen = {c.name: c.visible(obj) for c in node.conds}
        hidden = {name for name, v in seen.items() if v is False}
        if hidden and node.chained:
            for _ in range(len(node.conds)):
                view = {k: v for k, v in obj.items() if k not in hidden}
                seen = {c.name: c.visible(view) for c in node.conds}
                now = {name for name, v in seen.items() if v is False}
                if now == hidden:
                    break
                hidden = now
        undecided = {name for name, v in seen.items() if v is None}
        if hidden:
            out = {k: v for k, v in obj.items() if k not in hidden}
        if missing is not None:
            for c in node.conds:
                if c.required and c.name not in hidden and c.name not in undecided and c.name not in out:
                    missing.append((*path, c.name))
    for name, child in node.children.items():
        value = out.get(name)
        if isinstance(value, dict):
            new = clean_object(child, value, (*path, name), missing)
            if new is not value:
                out = dict(out) if out is obj else out
                out[name] = new
    for name, child in node.arrays.items():
        rows = out.get(name)
        if isinstance(rows, list):
            new_rows = [
                clean_object(child, row, (*path, name, i), missing)
                if isinstance(row, dict)
                else row
                for i, row in enumerate(rows)
            ]
            if any(a is not b for a, b in zip(new_rows, rows, strict=True)):
                out = dict(out) if out is obj else out
                out[name] = new_rows
    return out
