"""Forms: a JSON Schema (draft 2020-12) plus ``x-`` presentation hints, loaded from YAML.

``parse_form`` checks a form file and reports every problem at the line and column the
author wrote; ``Form`` validates submissions (messages for operators, in Chinese or
English), drops fields hidden by ``x-visible-if`` and flags numbers outside ``x-limits``.
The file format is described in ``docs/forms.md``.

Validation is on the hot path of every task completion, so everything that can be is done
once per form: the JSON Schema is rewritten for validation (hints stripped, undeclared
fields forbidden, conditional fields taken out of ``required``) and compiled into one
``Draft202012Validator``; the work for ``x-visible-if`` is only done by forms that use it.
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker

from engine.errors import ExpressionError, Problem
from engine.language import yaml_source as yamlsrc
from engine.language.expressions import check_names, compile_expr
from engine.language.form_messages import fmt_value, join_options, message

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from jsonschema.exceptions import ValidationError

    from engine.language.yaml_source import Path, Source

__all__ = ["FieldInfo", "Form", "load_form", "parse_form", "WIDGETS", "HINTS"]

TOP_KEYS = ("id", "title", "description", "schema")

HINTS = (
    "x-widget",
    "x-unit",
    "x-limits",
    "x-visible-if",
    "x-placeholder",
    "x-sensitive",
    "x-accept",
    "x-max-size",
    "x-meaning",
)

WIDGETS = (
    "text",
    "textarea",
    "number",
    "radio",
    "select",
    "checkbox",
    "date",
    "datetime",
    "time",
    "table",
    "file",
    "signature",
    "user",
    "group",
)

# Which JSON types each widget can edit (None: any type).
_WIDGET_TYPES: dict[str, tuple[str, ...] | None] = {
    "text": ("string",),
    "textarea": ("string",),
    "number": ("number", "integer"),
    "radio": None,
    "select": None,
    "checkbox": ("boolean", "array"),
    "date": ("string",),
    "datetime": ("string",),
    "time": ("string",),
    "table": ("array",),
    "file": ("string", "array"),
    "signature": None,
    "user": ("string", "array"),
    "group": ("object",),
}

# Every keyword of JSON Schema 2020-12 (core, applicator, validation, format, content, meta-data).
SCHEMA_KEYWORDS = frozenset(
    [
        "$schema",
        "$id",
        "$ref",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "$defs",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "prefixItems",
        "items",
        "contains",
        "properties",
        "patternProperties",
        "additionalProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
    ]
)
_ONE_SCHEMA = (
    "items",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
)
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_COMPOSITION = (
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "then",
    "else",
    "$ref",
    "$dynamicRef",
    "dependentSchemas",
)
_JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")
_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# --------------------------------------------------------------------------- formats

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:\d{2})?$")
_DATETIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)([Zz]|[+-]\d{2}:\d{2})?$"
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("date")
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_RE.match(value):
        return False
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("time")
def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    m = _TIME_RE.match(value)
    return bool(m) and int(m[1]) < 24 and int(m[2]) < 60 and (m[3] is None or int(m[3]) < 60)


@FORMAT_CHECKER.checks("date-time")
def _is_datetime(value: object) -> bool:
    """RFC 3339, but the seconds and the offset may be left out (what a browser sends)."""
    if not isinstance(value, str):
        return True
    m = _DATETIME_RE.match(value)
    if not m:
        return False
    return _is_date(m[1]) and _is_time(m[2])


@FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL_RE.match(value))


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class FieldInfo:
    """One field of a form, addressed by its dotted path (``contact.phone``).

    ``required`` is relative to the enclosing object; a field with ``visible_if`` is
    required only while visible. ``limits`` is ``(min, max)``, either side may be None.
    """

    path: str
    type: str | None
    title: str
    widget: str
    unit: str | None = None
    limits: tuple[float | None, float | None] | None = None
    enum: list | None = None
    required: bool = False
    sensitive: bool = False
    visible_if: str | None = None
    # Where below this field sensitive values sit (``x-sensitive: true`` on a property of
    # a group or of a table's rows), as paths from the form's top: ``contacts[].phone``
    # (that cell of every row), ``address.mobile``, ``phones[]`` (every item of a list).
    sensitive_within: tuple[str, ...] = ()


class _Cond:
    """A field with ``x-visible-if`` inside one object schema.

    Evaluating an expression costs several microseconds, and table rows mostly repeat the
    same few values, so results are memoised by the values of the names the expression
    reads (not for expressions that call ``now()``).
    """

    __slots__ = ("name", "expr", "required", "names", "memo")

    MEMO_SIZE = 256

    def __init__(self, name: str, expr: Any, required: bool) -> None:
        self.name = name
        self.expr = expr
        self.required = required
        uses_clock = "now" in expr.source
        self.names = None if uses_clock else tuple(n.split(".") for n in sorted(expr.names))
        self.memo: dict[tuple, bool] = {}

    def visible(self, context: dict) -> bool:
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


def _lookup(context: Any, parts: list[str]) -> Any:
    for part in parts:
        if context is None:
            return None
        if not isinstance(context, dict):
            return _NO_MEMO  # e.g. an index into a list: evaluate every time
        context = context.get(part)
    return context


_NO_MEMO: list = []  # unhashable: makes the memo lookup fail with TypeError


def _memo_key(value: Any) -> Any:
    # True == 1 == 1.0 share a hash; keep them apart, an expression may tell them apart.
    return (type(value), value)


class _VisNode:
    """Where ``x-visible-if`` fields sit in an object schema: its own and those below it."""

    __slots__ = ("conds", "children", "arrays", "chained")

    def __init__(self) -> None:
        self.conds: list[_Cond] = []
        self.chained = False  # some condition reads a field that is itself conditional
        self.children: dict[str, _VisNode] = {}  # property holding an object
        self.arrays: dict[str, _VisNode] = {}  # property holding an array of objects

    def empty(self) -> bool:
        return not (self.conds or self.children or self.arrays)


class Form:
    """A parsed form; immutable once built. Build it with :func:`parse_form` or :func:`load_form`."""

    __slots__ = (
        "id",
        "title",
        "description",
        "schema",
        "source_file",
        "fields",
        "_validator",
        "_vis",
        "_order",
        "_widgets",
        "_limits",
        "_fast",
    )

    def __init__(
        self,
        id: str,
        title: str,
        description: str,
        schema: dict,
        source_file: str,
        expressions: dict[tuple[str, ...], Any],
    ) -> None:
        self.id = id
        self.title = title
        self.description = description
        self.schema = schema
        self.source_file = source_file
        self._order: dict[str, int] = {}
        self._widgets: dict[str, str] = {}
        self._limits: list[tuple[tuple[str, ...], float | None, float | None, str]] = []
        self.fields: dict[str, FieldInfo] = {}
        self._collect(schema, (), True, expressions)
        vis = self._vis_node(schema, (), expressions)
        self._vis: _VisNode | None = None if vis.empty() else vis
        checked = _validation_schema(schema)
        self._validator = Draft202012Validator(checked, format_checker=FORMAT_CHECKER)
        self._fast = _fast_checker(checked)

    def __repr__(self) -> str:
        return f"<Form {self.id} ({len(self.fields)} fields) from {self.source_file}>"

    # ----------------------------------------------------------------- construction

    def _collect(self, schema: dict, spath: tuple[str, ...], top: bool, exprs: dict) -> None:
        """Field order, widgets and limits of every schema path; FieldInfo for public paths."""
        props = schema.get("properties")
        if not isinstance(props, dict):
            return
        required = schema.get("required") if isinstance(schema.get("required"), list) else []
        for name, sub in props.items():
            if not isinstance(sub, dict):
                continue
            path = (*spath, name)
            dotted = ".".join(path)
            self._order[dotted] = len(self._order)
            widget = sub.get("x-widget") or default_widget(sub)
            self._widgets[dotted] = widget
            limits = _limits_of(sub)
            if limits:
                self._limits.append((path, limits[0], limits[1], str(sub.get("x-unit") or "")))
            if top:
                enum = sub.get("enum")
                if (
                    enum is None
                    and _single_type(sub) == "array"
                    and isinstance(sub.get("items"), dict)
                ):
                    enum = sub["items"].get("enum")
                vis = sub.get("x-visible-if")
                self.fields[dotted] = FieldInfo(
                    path=dotted,
                    type=_single_type(sub),
                    title=str(sub.get("title") or name),
                    widget=widget,
                    unit=str(sub["x-unit"]) if sub.get("x-unit") is not None else None,
                    limits=limits,
                    enum=list(enum) if isinstance(enum, list) else None,
                    required=name in required,
                    sensitive=sub.get("x-sensitive") is True,
                    visible_if=vis if isinstance(vis, str) else None,
                    sensitive_within=tuple(_sensitive_below(sub, dotted)),
                )
            if isinstance(sub.get("properties"), dict):
                self._collect(sub, path, top, exprs)
            items = sub.get("items")
            if isinstance(items, dict):
                self._collect_items(items, path, exprs)

    def _collect_items(self, items: dict, path: tuple[str, ...], exprs: dict) -> None:
        limits = _limits_of(items)
        if limits:
            self._limits.append(
                ((*path, "*"), limits[0], limits[1], str(items.get("x-unit") or ""))
            )
        if isinstance(items.get("properties"), dict):
            self._collect(items, path, False, exprs)
        inner = items.get("items")
        if isinstance(inner, dict):
            self._collect_items(inner, path, exprs)

    def _vis_node(self, schema: dict, spath: tuple[str, ...], exprs: dict) -> _VisNode:
        node = _VisNode()
        props = schema.get("properties")
        if not isinstance(props, dict):
            return node
        required = schema.get("required") if isinstance(schema.get("required"), list) else []
        for name, sub in props.items():
            if not isinstance(sub, dict):
                continue
            path = (*spath, name)
            expr = exprs.get(path)
            if expr is not None:
                node.conds.append(_Cond(name, expr, name in required))
            if isinstance(sub.get("properties"), dict):
                child = self._vis_node(sub, path, exprs)
                if not child.empty():
                    node.children[name] = child
            items = sub.get("items")
            if isinstance(items, dict) and isinstance(items.get("properties"), dict):
                child = self._vis_node(items, path, exprs)
                if not child.empty():
                    node.arrays[name] = child
        conditional = {c.name for c in node.conds}
        node.chained = any(
            n.split(".", 1)[0] in conditional for c in node.conds for n in c.expr.names
        )
        return node

    # ----------------------------------------------------------------- submissions

    def clean(self, data: dict) -> dict:
        """The data to store: ``data`` without the fields that ``x-visible-if`` hides.

        Visibility is evaluated on the submitted data, the fields of the same object (the
        row, for table rows) being the names. ``data`` itself is not modified.
        """
        if self._vis is None or not isinstance(data, dict):
            return data
        return _clean_object(self._vis, data, (), None)

    def validate(self, data: dict, locale: str = "zh") -> list[dict]:
        """Every problem of a submission as ``{"field", "message"}``; ``[]`` when valid.

        ``field`` is a dotted path (``items.2.measured``), ``""`` for the form as a whole;
        ``message`` is for operators, in Chinese (``zh``) or English (``en``).
        """
        if not isinstance(data, dict):
            return [{"field": "", "message": message("not_object", locale)}]
        missing: list[tuple] = []
        if self._vis is not None:
            data = _clean_object(self._vis, data, (), missing)
        if not missing and self._fast is not None and self._fast(data):
            return []
        errors = self._validator.iter_errors(data)
        if not missing:
            first = next(errors, None)
            if first is None:
                return []
            errors = _chain(first, errors)
        out: list[tuple[tuple, dict]] = []
        seen: set[tuple[str, str]] = set()

        def add(path: tuple, text: str) -> None:
            field = ".".join(str(p) for p in path)
            if (field, text) not in seen:
                seen.add((field, text))
                out.append((self._sort_key(path), {"field": field, "message": text}))

        for path in missing:
            add(path, message("required", locale))
        for error in errors:
            for path, text in self._explain(error, locale):
                add(path, text)
        out.sort(key=lambda pair: pair[0])
        return [entry for _, entry in out]

    @property
    def sensitive_paths(self) -> frozenset[str]:
        """Every sensitive value of the form: its fields marked ``x-sensitive: true`` and the
        marked values below them (``FieldInfo.sensitive_within``: ``contacts[].phone``)."""
        return frozenset(path for path, info in self.fields.items() if info.sensitive).union(
            *(info.sensitive_within for info in self.fields.values()))

    def out_of_limits(self, data: dict, locale: str = "zh") -> list[dict]:
        """Numbers outside their ``x-limits`` (table rows included): flags, not errors.

        Each is ``{"field", "message", "value", "min", "max"}``. Pass the cleaned data.
        """
        found: list[dict] = []
        if not self._limits or not isinstance(data, dict):
            return found
        for pattern, lo, hi, unit in self._limits:
            for path, value in _values_at(data, pattern, ()):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                if lo is not None and value < lo:
                    key, limit = "limits.below", lo
                elif hi is not None and value > hi:
                    key, limit = "limits.above", hi
                else:
                    continue
                text = message(key, locale, limit=fmt_value(limit), unit=f" {unit}" if unit else "")
                found.append(
                    {
                        "field": ".".join(str(p) for p in path),
                        "message": text,
                        "value": value,
                        "min": lo,
                        "max": hi,
                    }
                )
        found.sort(key=lambda f: self._sort_key(tuple(_split_path(f["field"]))))
        return found

    # ----------------------------------------------------------------- error messages

    def _sort_key(self, path: tuple) -> tuple:
        """Errors in the order of the form: fields as written, rows by number."""
        key: list[int] = []
        names: list[str] = []
        for p in path:
            if isinstance(p, int):
                key.append(p)
            else:
                names.append(p)
                key.append(self._order.get(".".join(names), len(self._order)))
        return tuple(key)

    def _widget_at(self, path: Iterable) -> str:
        return self._widgets.get(".".join(p for p in path if isinstance(p, str)), "")

    def _explain(self, error: ValidationError, locale: str) -> Iterator[tuple[tuple, str]]:
        path = tuple(error.absolute_path)
        kind = error.validator
        value = error.validator_value
        instance = error.instance
        if kind == "required":
            if isinstance(instance, dict):
                for name in value:
                    if name not in instance:
                        yield (*path, name), message("required", locale)
            return
        if kind == "dependentRequired":
            if isinstance(instance, dict):
                for names in value.values():
                    for name in names:
                        if name not in instance:
                            yield (*path, name), message("required", locale)
            return
        if kind in ("additionalProperties", "unevaluatedProperties"):
            declared = _declared_properties(error.schema)
            patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
            if isinstance(instance, dict):
                for name in instance:
                    if name not in declared and not any(p.search(name) for p in patterns):
                        yield (*path, name), message("unknown", locale)
            return
        yield path, self._message_for(kind, value, instance, path, locale)

    def _message_for(self, kind: str, value: Any, instance: Any, path: tuple, locale: str) -> str:
        if kind == "enum":
            return message("enum", locale, options=join_options(value, locale))
        if kind == "const":
            return message("const", locale, value=fmt_value(value))
        if kind == "type":
            types = [value] if isinstance(value, str) else [t for t in value if t != "null"]
            if len(types) == 1 and f"type.{types[0]}" in _TYPE_KEYS:
                return message(f"type.{types[0]}", locale)
            return message("type.any", locale, types=join_options(types, locale))
        if kind in (
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "maxLength",
        ):
            return message(kind, locale, limit=fmt_value(value))
        if kind == "minLength":
            if value == 1:
                return message("required", locale)
            return message(kind, locale, limit=fmt_value(value))
        if kind == "format":
            key = f"format.{value}"
            return message(key if key in _FORMAT_KEYS else "format.other", locale)
        if kind in ("minItems", "maxItems"):
            widget = self._widget_at(path)
            suffix = widget if widget in ("table", "file") else "other"
            if kind == "minItems" and value == 1 and instance == [] and suffix == "other":
                return message("required", locale)
            return message(f"{kind}.{suffix}", locale, limit=fmt_value(value))
        if kind in ("uniqueItems", "pattern"):
            return message(kind, locale)
        if kind in ("minProperties", "maxProperties"):
            return message(kind, locale, limit=fmt_value(value))
        return message("other", locale)


_TYPE_KEYS = frozenset(f"type.{t}" for t in _JSON_TYPES)
_FORMAT_KEYS = frozenset(("format.date", "format.date-time", "format.time", "format.email"))


def _chain(first: Any, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _split_path(dotted: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in dotted.split(".")] if dotted else []


def _values_at(data: Any, pattern: tuple[str, ...], prefix: tuple) -> Iterator[tuple[tuple, Any]]:
    """Values at a schema path, ``"*"`` standing for every index of an array."""
    if not pattern:
        yield prefix, data
        return
    head, rest = pattern[0], pattern[1:]
    if isinstance(data, list):
        if head == "*":
            for i, item in enumerate(data):
                yield from _values_at(item, rest, (*prefix, i))
        else:  # an array of objects: the pattern names the item's property
            for i, item in enumerate(data):
                yield from _values_at(item, pattern, (*prefix, i))
        return
    if isinstance(data, dict) and head in data:
        yield from _values_at(data[head], rest, (*prefix, head))


def _declared_properties(schema: dict) -> set[str]:
    names: set[str] = set()
    stack = [schema]
    while stack:
        s = stack.pop()
        if not isinstance(s, dict):
            continue
        props = s.get("properties")
        if isinstance(props, dict):
            names.update(props)
        for key in ("allOf", "anyOf", "oneOf"):
            if isinstance(s.get(key), list):
                stack.extend(s[key])
        for key in ("then", "else", "if"):
            stack.append(s.get(key))
        if isinstance(s.get("dependentSchemas"), dict):
            stack.extend(s["dependentSchemas"].values())
    return names


# --------------------------------------------------------------------------- visibility


def _visible(expr: Any, context: dict) -> bool:
    """An expression that fails to evaluate (e.g. compares a missing number) hides its field."""
    try:
        return bool(expr.evaluate(context))
    except ExpressionError:
        return False


def _clean_object(node: _VisNode, obj: dict, path: tuple, missing: list | None) -> dict:
    out = obj
    if node.conds:
        # Hiding one field may change the visibility of another that refers to it: then
        # repeat until stable (bounded, the rules could in principle flip-flop).
        hidden = {c.name for c in node.conds if not c.visible(obj)}
        if hidden and node.chained:
            for _ in range(len(node.conds)):
                view = {k: v for k, v in obj.items() if k not in hidden}
                now = {c.name for c in node.conds if not c.visible(view)}
                if now == hidden:
                    break
                hidden = now
        if hidden:
            out = {k: v for k, v in obj.items() if k not in hidden}
        if missing is not None:
            for c in node.conds:
                if c.required and c.name not in hidden and c.name not in out:
                    missing.append((*path, c.name))
    for name, child in node.children.items():
        value = out.get(name)
        if isinstance(value, dict):
            new = _clean_object(child, value, (*path, name), missing)
            if new is not value:
                out = dict(out) if out is obj else out
                out[name] = new
    for name, child in node.arrays.items():
        rows = out.get(name)
        if isinstance(rows, list):
            new_rows = [
                _clean_object(child, row, (*path, name, i), missing)
                if isinstance(row, dict)
                else row
                for i, row in enumerate(rows)
            ]
            if any(a is not b for a, b in zip(new_rows, rows, strict=True)):
                out = dict(out) if out is obj else out
                out[name] = new_rows
    return out


# --------------------------------------------------------------------------- schema helpers


def _single_type(schema: dict) -> str | None:
    t = schema.get("type")
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        types = [x for x in t if x != "null"]
        if len(types) == 1 and isinstance(types[0], str):
            return types[0]
    return None


def default_widget(schema: dict) -> str:
    """The widget a field gets when it names none (see docs/forms.md, "Widgets")."""
    t = _single_type(schema)
    if t == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return "date"
        if fmt == "date-time":
            return "datetime"
        if fmt == "time":
            return "time"
        enum = schema.get("enum")
        if isinstance(enum, list):
            return "radio" if len(enum) <= 4 else "select"
        return "text"
    if t in ("number", "integer"):
        return "number"
    if t == "boolean":
        return "checkbox"
    if t == "object":
        return "group"
    if t == "array":
        items = schema.get("items")
        if isinstance(items, dict):
            if _single_type(items) == "object" or "properties" in items:
                return "table"
            if isinstance(items.get("enum"), list):
                return "select"
        return "table"
    if isinstance(schema.get("enum"), list):
        return "radio" if len(schema["enum"]) <= 4 else "select"
    return "text"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _limits_of(schema: dict) -> tuple[float | None, float | None] | None:
    lim = schema.get("x-limits")
    if not isinstance(lim, dict):
        return None
    lo, hi = lim.get("min"), lim.get("max")
    lo = lo if _is_number(lo) else None
    hi = hi if _is_number(hi) else None
    if lo is None and hi is None:
        return None
    return (lo, hi)


def _sensitive_below(schema: dict, path: str) -> list[str]:
    """Paths of the values marked ``x-sensitive: true`` below ``schema`` (at ``path``):
    ``NAME`` for an object's property, ``[]`` for each item of an array. A marked value is
    sensitive as a whole, so nothing below it is listed."""
    out: list[str] = []
    props = schema.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            if isinstance(sub, dict):
                sub_path = f"{path}.{name}"
                out += [sub_path] if sub.get("x-sensitive") is True else _sensitive_below(sub, sub_path)
    items = schema.get("items")
    if isinstance(items, dict):
        out += [path + "[]"] if items.get("x-sensitive") is True else _sensitive_below(items, path + "[]")
    return out


def _validation_schema(schema: dict) -> dict:
    """The schema actually validated: hints stripped, undeclared properties forbidden and
    fields with ``x-visible-if`` taken out of ``required`` (their required check is done
    after visibility is known)."""
    schema = copy.deepcopy(schema)
    _prepare(schema)
    return schema


def _prepare(schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    for key in [k for k in schema if isinstance(k, str) and k.startswith("x-")]:
        del schema[key]
    props = schema.get("properties")
    if isinstance(props, dict):
        conditional = {n for n, s in props.items() if isinstance(s, dict) and "x-visible-if" in s}
        req = schema.get("required")
        if conditional and isinstance(req, list):
            schema["required"] = [r for r in req if r not in conditional]
        if not any(
            k in schema
            for k in ("additionalProperties", "unevaluatedProperties", "patternProperties")
        ):
            if any(k in schema for k in _COMPOSITION):
                schema["unevaluatedProperties"] = False
            else:
                schema["additionalProperties"] = False
    for key in _SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for sub in schema[key].values():
                _prepare(sub)
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for sub in schema[key]:
                _prepare(sub)
    for key in _ONE_SCHEMA:
        _prepare(schema.get(key))


# --------------------------------------------------------------------------- fast path
#
# jsonschema spends ~5 µs setting up every subschema it descends into, which puts a form
# with a table well over 50 µs. Most submissions are valid, so a form whose schema uses
# only the common keywords also gets a plain-Python checker that answers "surely valid"
# (True) or "look closer" (False); only on False does jsonschema run, and it alone decides
# which errors there are. The fast checker may therefore say False too often, never True
# wrongly.

_ANNOTATIONS = frozenset(
    [
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
        "$schema",
    ]
)


class _Unsupported(Exception):
    pass


def _fast_checker(schema: Any) -> Callable[[Any], bool] | None:
    try:
        return _fast(schema)
    except _Unsupported:
        return None


def _true(_x: Any) -> bool:
    return True


def _all(checks: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    if not checks:
        return _true
    if len(checks) == 1:
        return checks[0]
    funcs = tuple(checks)

    def check(x: Any) -> bool:
        for f in funcs:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not f(x):
                return False
        return True

    return check


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda x: isinstance(x, str),
    "number": _is_num,
    "integer": lambda x: (
        (isinstance(x, int) and not isinstance(x, bool))
        or (isinstance(x, float) and x.is_integer())
    ),
    "boolean": lambda x: isinstance(x, bool),
    "array": lambda x: isinstance(x, list),
    "object": lambda x: isinstance(x, dict),
    "null": lambda x: x is None,
}


def _fast(schema: Any) -> Callable[[Any], bool]:
    if schema is True:
        return _true
    if schema is False:
        return lambda _x: False
    if not isinstance(schema, dict):
        raise _Unsupported
    checks: list[Callable[[Any], bool]] = []
    for key, value in schema.items():
        if key in _ANNOTATIONS or key in ("properties", "required", "additionalProperties"):
            continue
        if key == "type":
            names = [value] if isinstance(value, str) else list(value)
            tests = tuple(_TYPE_TESTS[n] for n in names)
            checks.append(
                tests[0] if len(tests) == 1 else (lambda x, t=tests: any(f(x) for f in t))
            )
        elif key == "enum":
            if all(isinstance(v, str) for v in value):
                options = frozenset(value)
                checks.append(lambda x, o=options: isinstance(x, str) and x in o)
            else:
                raise _Unsupported
        elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            checks.append(_bound(key, value))
        elif key in (
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
        ):
            checks.append(_size(key, value))
        elif key == "pattern":
            rx = re.compile(value)
            checks.append(lambda x, r=rx: not isinstance(x, str) or r.search(x) is not None)
        elif key == "format":
            checks.append(
                lambda x, f=value: not isinstance(x, str) or FORMAT_CHECKER.conforms(x, f)
            )
        elif key == "items":
            item = _fast(value)
            checks.append(lambda x, c=item: not isinstance(x, list) or all(c(i) for i in x))
        elif key == "uniqueItems":
            if value:
                checks.append(
                    lambda x: (
                        not isinstance(x, list)
                        or (all(isinstance(i, str) for i in x) and len(set(x)) == len(x))
                    )
                )
        else:
            raise _Unsupported
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        checks.append(_object_check(schema))
    return _all(checks)


def _bound(key: str, limit: Any) -> Callable[[Any], bool]:
    if key == "minimum":
        return lambda x: not _is_num(x) or x >= limit
    if key == "maximum":
        return lambda x: not _is_num(x) or x <= limit
    if key == "exclusiveMinimum":
        return lambda x: not _is_num(x) or x > limit
    return lambda x: not _is_num(x) or x < limit


def _size(key: str, n: int) -> Callable[[Any], bool]:
    kind = {"Length": str, "Items": list, "Properties": dict}[key[3:]]
    if key.startswith("min"):
        return lambda x: not isinstance(x, kind) or len(x) >= n
    return lambda x: not isinstance(x, kind) or len(x) <= n


def _object_check(schema: dict) -> Callable[[Any], bool]:
    props = {name: _fast(sub) for name, sub in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is False else _fast(extra)

    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return True
        for name in required:
            if name not in x:
                return False
        for name, v in x.items():
            c = props.get(name)
            if c is None:
                if extra_check is None or not extra_check(v):
                    return False
            elif not c(v):
                return False
        return True

    return check


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


# --------------------------------------------------------------------------- loading


def load_form(path: str) -> tuple[Form | None, list[Problem]]:
    """Load and check ``forms/ID.yaml``; see :func:`parse_form`."""
    return parse_form(yamlsrc.load_file(path))


def parse_form(src: Source) -> tuple[Form | None, list[Problem]]:
    """Check a loaded form file and build its :class:`Form`.

    Returns ``(form, problems)``. Any problem makes the file invalid; ``form`` is still
    built when id, title and a valid JSON Schema are there (so that procedures using it can
    be checked too), and is ``None`` otherwise.
    """
    problems: list[Problem] = list(src.problems)
    data = src.data
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        problems.append(src.problem((), "a form file is a mapping with id, title and schema"))
        return None, problems
    checker = _Checker(src, problems)
    usable = True

    for key in data:
        if key not in TOP_KEYS:
            problems.append(
                src.problem(
                    (key,),
                    f"unknown key '{key}' in a form file{_did_you_mean(key, TOP_KEYS)}"
                    if _did_you_mean(key, TOP_KEYS)
                    else f"unknown key '{key}' in a form file; the keys are {', '.join(TOP_KEYS)}",
                    key=True,
                )
            )

    stem = _file_stem(src.file)
    form_id = data.get("id")
    if "id" not in data:
        hint = f"id: {stem}" if stem else "id: my-form"
        problems.append(
            src.problem((), f"missing 'id'; add `{hint}` (the file name without .yaml)")
        )
        usable = False
    elif not isinstance(form_id, str) or not _ID_RE.match(form_id):
        problems.append(
            src.problem(
                ("id",), f"id {form_id!r} must be kebab-case (lower-case words joined by '-')"
            )
        )
        usable = False
    elif stem is not None and form_id != stem:
        problems.append(
            src.problem(
                ("id",),
                f"id '{form_id}' does not match the file name '{stem}.yaml'; "
                f"write `id: {stem}` or rename the file to {form_id}.yaml",
            )
        )

    title = data.get("title")
    if "title" not in data:
        problems.append(
            src.problem((), "missing 'title'; add `title: ...`, the heading people see")
        )
        usable = False
    elif not isinstance(title, str) or not title.strip():
        problems.append(src.problem(("title",), "title must be non-empty text"))
        usable = False

    description = data.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        problems.append(src.problem(("description",), "description must be text"))
        description = ""

    schema = data.get("schema")
    exprs: dict[tuple[str, ...], Any] = {}
    if "schema" not in data:
        problems.append(
            src.problem((), "missing 'schema'; add `schema:` with `type: object` and `properties`")
        )
        usable = False
    elif not isinstance(schema, dict):
        problems.append(
            src.problem(
                ("schema",), "schema must be a mapping with `type: object` and `properties`"
            )
        )
        usable = False
    else:
        if schema.get("type") != "object":
            where = ("schema", "type") if "type" in schema else ("schema",)
            problems.append(
                src.problem(
                    where, "the schema of a form must have `type: object`", key="type" not in schema
                )
            )
            usable = False
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            where = ("schema", "properties") if "properties" in schema else ("schema",)
            problems.append(
                src.problem(
                    where,
                    "the schema of a form must have `properties`, a mapping of field name → field schema",
                    key="properties" not in schema,
                )
            )
            usable = False
        if not checker.metaschema(schema):
            usable = False
        checker.walk(schema, ("schema",), in_properties=False)
        checker.fields(schema, ("schema",), exprs)

    if not usable:
        return None, problems
    form = Form(form_id, title, description, schema, src.file, exprs)
    return form, problems


def _file_stem(file: str) -> str | None:
    base = os.path.basename(file)
    for ext in (".yaml", ".yml"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return None


_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)

_META_TYPE_WORDS = {
    "array": "a list",
    "object": "a mapping",
    "number": "a number",
    "integer": "a whole number",
    "string": "text",
    "boolean": "true or false",
}


class _Checker:
    """The checks of a form's schema, each problem located in the YAML source."""

    def __init__(self, src: Source, problems: list[Problem]) -> None:
        self.src = src
        self.problems = problems

    def add(self, path: Path, text: str, *, key: bool = False) -> None:
        self.problems.append(self.src.problem(path, text, key=key))

    # JSON Schema validity -------------------------------------------------------

    def metaschema(self, schema: dict) -> bool:
        ok = True
        for error in _META.iter_errors(schema):
            ok = False
            path = ("schema", *error.absolute_path)
            self.add(path, self._meta_message(error))
        return ok

    @staticmethod
    def _meta_message(error: ValidationError) -> str:
        path = list(error.absolute_path)
        keyword = next((p for p in reversed(path) if isinstance(p, str)), "")
        if keyword == "type" and error.validator == "anyOf" and isinstance(error.instance, str):
            return (
                f"unknown type '{error.instance}'; use one of {', '.join(_JSON_TYPES)}"
                f"{_did_you_mean(error.instance, _JSON_TYPES)}"
            )
        if error.validator == "type":
            want = error.validator_value
            words = (
                _META_TYPE_WORDS.get(want, want)
                if isinstance(want, str)
                else " or ".join(_META_TYPE_WORDS.get(w, w) for w in want)
            )
            return f"invalid JSON Schema: `{keyword}` must be {words}, not {error.instance!r}"
        if error.validator == "minimum":
            return f"invalid JSON Schema: `{keyword}` must be at least {error.validator_value}"
        return f"invalid JSON Schema at `{keyword or 'schema'}`: {error.message}"

    # keywords and hints ---------------------------------------------------------

    def walk(self, schema: Any, path: Path, *, in_properties: bool) -> None:
        """Unknown keywords and hints anywhere in the schema."""
        if not isinstance(schema, dict):
            return
        for key in schema:
            if not isinstance(key, str):
                continue
            if key.startswith("x-"):
                if key not in HINTS:
                    self.add(
                        (*path, key),
                        f"unknown hint '{key}'{_did_you_mean(key, HINTS)}"
                        if _did_you_mean(key, HINTS)
                        else f"unknown hint '{key}'; the hints are {', '.join(HINTS)}",
                        key=True,
                    )
                elif key == "x-visible-if" and not in_properties:
                    self.add(
                        (*path, key),
                        "x-visible-if only works on a field listed under `properties`",
                        key=True,
                    )
            elif key not in SCHEMA_KEYWORDS:
                self.add(
                    (*path, key),
                    f"unknown schema keyword '{key}'{_did_you_mean(key, SCHEMA_KEYWORDS)}"
                    if _did_you_mean(key, SCHEMA_KEYWORDS)
                    else f"unknown schema keyword '{key}'; presentation hints start with x-",
                    key=True,
                )
        props, req = schema.get("properties"), schema.get("required")
        if (
            isinstance(props, dict)
            and isinstance(req, list)
            and not any(k in schema for k in _COMPOSITION)
        ):
            for i, name in enumerate(req):
                if isinstance(name, str) and name not in props:
                    self.add(
                        (*path, "required", i),
                        f"required field '{name}' is not declared under properties"
                        f"{_did_you_mean(name, props)}",
                    )
        for key in _SCHEMA_MAPS:
            subs = schema.get(key)
            if isinstance(subs, dict):
                for name, sub in subs.items():
                    self.walk(sub, (*path, key, name), in_properties=key == "properties")
        for key in _SCHEMA_LISTS:
            subs = schema.get(key)
            if isinstance(subs, list):
                for i, sub in enumerate(subs):
                    self.walk(sub, (*path, key, i), in_properties=False)
        for key in _ONE_SCHEMA:
            self.walk(schema.get(key), (*path, key), in_properties=False)
        self.hints(schema, path)

    def hints(self, schema: dict, path: Path) -> None:
        t = _single_type(schema)
        widget = schema.get("x-widget")
        if "x-widget" in schema:
            if not isinstance(widget, str) or widget not in WIDGETS:
                shown = widget if isinstance(widget, str) else repr(widget)
                self.add(
                    (*path, "x-widget"),
                    f"unknown widget '{shown}'; use one of {', '.join(WIDGETS)}"
                    f"{_did_you_mean(shown, WIDGETS)}",
                )
                widget = None
            else:
                allowed = _WIDGET_TYPES[widget]
                if allowed is not None and t is not None and t not in allowed:
                    self.add(
                        (*path, "x-widget"),
                        f"x-widget: {widget} does not fit a field of type {t}; "
                        f"use it with type {' or '.join(allowed)}, or choose another widget",
                    )
                if widget in ("radio", "select") and not _has_enum(schema):
                    self.add(
                        (*path, "x-widget"),
                        f"x-widget: {widget} needs the options: add `enum: [...]`"
                        + (" under `items`" if t == "array" else ""),
                    )
        effective = widget or default_widget(schema)
        if "x-limits" in schema:
            self._limits(schema, path, t)
        if "x-unit" in schema:
            unit = schema["x-unit"]
            if not isinstance(unit, str | int | float) or isinstance(unit, bool):
                self.add((*path, "x-unit"), "x-unit must be text such as mm, V or ℃")
            elif t not in ("number", "integer", None):
                self.add(
                    (*path, "x-unit"), f"x-unit belongs on number fields, not on type {t}", key=True
                )
        if "x-placeholder" in schema and not isinstance(schema["x-placeholder"], str):
            self.add((*path, "x-placeholder"), "x-placeholder must be text")
        if "x-sensitive" in schema and not isinstance(schema["x-sensitive"], bool):
            self.add((*path, "x-sensitive"), "x-sensitive must be true or false")
        if "x-accept" in schema:
            acc = schema["x-accept"]
            if not isinstance(acc, list) or not all(
                isinstance(a, str) and ("/" in a or a.startswith(".")) for a in acc
            ):
                self.add(
                    (*path, "x-accept"),
                    "x-accept must be a list of content types or extensions, e.g. [image/png, .pdf]",
                )
            elif effective != "file":
                self.add((*path, "x-accept"), "x-accept only applies to `x-widget: file`", key=True)
        if "x-max-size" in schema:
            size = schema["x-max-size"]
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                self.add(
                    (*path, "x-max-size"),
                    "x-max-size must be a positive number of bytes, e.g. 10485760",
                )
            elif effective != "file":
                self.add(
                    (*path, "x-max-size"), "x-max-size only applies to `x-widget: file`", key=True
                )
        if "x-meaning" in schema:
            if not isinstance(schema["x-meaning"], str) or not schema["x-meaning"].strip():
                self.add((*path, "x-meaning"), "x-meaning must be text such as 审核 or 批准")
            elif effective != "signature":
                self.add(
                    (*path, "x-meaning"),
                    "x-meaning only applies to `x-widget: signature`",
                    key=True,
                )

    def _limits(self, schema: dict, path: Path, t: str | None) -> None:
        lim = schema["x-limits"]
        where = (*path, "x-limits")
        if t not in ("number", "integer"):
            self.add(
                where,
                f"x-limits needs a number field (type: number or integer), not type {t or 'unset'}",
                key=True,
            )
            return
        if not isinstance(lim, dict) or not lim:
            self.add(
                where, "x-limits must be a mapping {min: N, max: N}, e.g. {min: 9.8, max: 10.2}"
            )
            return
        for key in lim:
            if key not in ("min", "max"):
                self.add(
                    (*where, key),
                    f"unknown key '{key}' in x-limits; use min and max"
                    f"{_did_you_mean(str(key), ('min', 'max'))}",
                    key=True,
                )
        bad = False
        for key in ("min", "max"):
            if key in lim and not _is_number(lim[key]):
                self.add((*where, key), f"x-limits {key} must be a number, not {lim[key]!r}")
                bad = True
        lo, hi = lim.get("min"), lim.get("max")
        if not bad and lo is not None and hi is not None and lo > hi:
            self.add(
                (*where, "min"),
                f"x-limits min {fmt_value(lo)} is above max {fmt_value(hi)}; swap them",
            )

    # x-visible-if ---------------------------------------------------------------

    def fields(self, schema: Any, path: Path, exprs: dict) -> None:
        """Compile every ``x-visible-if`` and check its names against its sibling fields."""
        if not isinstance(schema, dict):
            return
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if not isinstance(sub, dict):
                    continue
                fpath = (*path, "properties", name)
                if "x-visible-if" in sub:
                    siblings = _dotted_paths(props, exclude=name)
                    expr = self._visible_if(sub["x-visible-if"], (*fpath, "x-visible-if"), siblings)
                    if expr is not None:
                        exprs[_data_path(fpath)] = expr
                self.fields(sub, fpath, exprs)
        items = schema.get("items")
        if isinstance(items, dict):
            self.fields(items, (*path, "items"), exprs)

    def _visible_if(self, text: Any, where: Path, siblings: set[str]) -> Any:
        if not isinstance(text, str) or not text.strip():
            self.add(
                where,
                'x-visible-if must be an expression over fields of the form, e.g. verdict == "不合格"',
            )
            return None
        try:
            expr = compile_expr(text)
        except ExpressionError as exc:
            offset = getattr(exc, "offset", None)
            at = f" (at character {offset + 1})" if isinstance(offset, int) else ""
            self.add(where, f"x-visible-if: {exc.message}{at}")
            return None
        for name, _text in check_names(expr, siblings):
            # check_names speaks of steps; here the names are fields of the same object.
            hint = _did_you_mean(name, siblings)
            known = f"; the fields here are {', '.join(sorted(siblings))}" if siblings else ""
            self.add(where, f"x-visible-if: unknown field '{name}'{hint or known}")
        return expr


def _has_enum(schema: dict) -> bool:
    if isinstance(schema.get("enum"), list):
        return True
    items = schema.get("items")
    return isinstance(items, dict) and isinstance(items.get("enum"), list)


def _dotted_paths(props: dict, exclude: str) -> set[str]:
    out: set[str] = set()
    for name, sub in props.items():
        if name == exclude:
            continue
        out.add(name)
        if isinstance(sub, dict) and isinstance(sub.get("properties"), dict):
            out.update(f"{name}.{p}" for p in _dotted_paths(sub["properties"], exclude=""))
    return out


def _data_path(schema_path: Path) -> tuple[str, ...]:
    """("schema", "properties", "items", "items", "properties", "x") → ("items", "x")."""
    out: list[str] = []
    parts = list(schema_path[1:])
    i = 0
    while i < len(parts):
        if parts[i] == "properties" and i + 1 < len(parts):
            out.append(str(parts[i + 1]))
            i += 2
        else:
            i += 1
    return tuple(out)
