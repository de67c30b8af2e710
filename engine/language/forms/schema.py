"""What the keywords and ``x-`` hints of a form's schema mean: the vocabulary that the file
check, the model and the renderer share, and the defaults a field gets when it says nothing."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import unquote

from referencing import Registry
from referencing.exceptions import NoSuchResource

#: A JSON Schema (or a part of one) as loaded from YAML: keywords to any JSON value.
Schema = dict[str, Any]

#: Where a value sits in a submission: property names and row numbers.
DataPath = tuple[str | int, ...]

TOP_KEYS = ("id", "title", "description", "schema", "en")  # en: English titles (engine.language.english)

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
    "x-compute",
    "x-scan",
)

#: What ``x-scan`` lets the camera read into a text field: QR codes, 1D barcodes (EAN, Code 128,
#: Code 39, ITF...) or either.
SCAN_KINDS = ("qr", "barcode", "any")

WIDGETS = (
    "text",
    "textarea",
    "number",
    "radio",
    "select",
    "checkbox",
    "yesno",
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
WIDGET_TYPES: dict[str, tuple[str, ...] | None] = {
    "text": ("string",),
    "textarea": ("string",),
    "number": ("number", "integer"),
    "radio": None,
    "select": None,
    "checkbox": ("boolean", "array"),
    "yesno": ("boolean",),
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
ONE_SCHEMA = (
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
SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
COMPOSITION = (
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
JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")


def single_type(schema: Schema) -> str | None:
    t = schema.get("type")
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        types = [x for x in t if x != "null"]
        if len(types) == 1 and isinstance(types[0], str):
            return types[0]
    return None


# A text field with one of these formats gets its picker (the form builder reads kinds the same way).
FORMAT_WIDGETS = {"date": "date", "date-time": "datetime", "time": "time"}


def default_widget(schema: Schema) -> str:
    """The widget a field gets when it names none (see docs/forms.md, "Widgets")."""
    t = single_type(schema)
    if t == "string":
        fmt = schema.get("format")
        if fmt in FORMAT_WIDGETS:
            return FORMAT_WIDGETS[fmt]
        enum = schema.get("enum")
        if isinstance(enum, list):
            return "radio" if len(enum) <= 4 else "select"
        return "text"
    if t in ("number", "integer"):
        return "number"
    if t == "boolean":
        # A lone unticked box cannot tell "no" from "not answered": a yes/no question gets two
        # choices and stays empty until one is chosen. Only a box that must be ticked
        # (``const: true``, e.g. "I have read the instructions") stays a checkbox.
        return "checkbox" if schema.get("const") is True else "yesno"
    if t == "object":
        return "group"
    if t == "array":
        items = schema.get("items")
        if isinstance(items, dict):
            if single_type(items) == "object" or "properties" in items:
                return "table"
            if isinstance(items.get("enum"), list):
                return "select"
        return "table"
    if isinstance(schema.get("enum"), list):
        return "radio" if len(schema["enum"]) <= 4 else "select"
    return "text"


# Keywords whose value bounds a number (or, multipleOf, divides it).
NUMBER_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def is_number(v: Any) -> bool:
    """A number a limit can be: YAML's .nan and .inf are floats, but no limit."""
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and math.isfinite(v)


def limits_of(schema: Schema) -> tuple[float | None, float | None] | None:
    lim = schema.get("x-limits")
    if not isinstance(lim, dict):
        return None
    lo, hi = lim.get("min"), lim.get("max")
    lo = lo if is_number(lo) else None
    hi = hi if is_number(hi) else None
    if lo is None and hi is None:
        return None
    return (lo, hi)


def sensitive_below(schema: Schema, path: str) -> list[str]:
    """Paths of the values marked ``x-sensitive: true`` below ``schema`` (at ``path``):
    ``NAME`` for an object's property, ``[]`` for each item of an array. A marked value is
    sensitive as a whole, so nothing below it is listed."""
    out: list[str] = []
    props = schema.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            if isinstance(sub, dict):
                sub_path = f"{path}.{name}"
                out += [sub_path] if sub.get("x-sensitive") is True else sensitive_below(sub, sub_path)
    items = schema.get("items")
    if isinstance(items, dict):
        out += [path + "[]"] if items.get("x-sensitive") is True else sensitive_below(items, path + "[]")
    return out


def has_enum(schema: Schema) -> bool:
    if isinstance(schema.get("enum"), list):
        return True
    items = schema.get("items")
    return isinstance(items, dict) and isinstance(items.get("enum"), list)


def sort_key(order: dict[str, int], path: DataPath) -> tuple[int, ...]:
    """Where ``path`` comes in the form (``order``: the index of each dotted field as
    written), so that messages follow the form: fields as written, rows by number."""
    key: list[int] = []
    names: list[str] = []
    for p in path:
        if isinstance(p, int):
            key.append(p)
        else:
            names.append(p)
            key.append(order.get(".".join(names), len(order)))
    return tuple(key)


# References -----------------------------------------------------------------------------
# A form is one schema: its ``$ref`` and ``$dynamicRef`` may point only inside it (``#``,
# ``#/JSON/POINTER``, ``#ANCHOR``), so checking a submission never reads anything else.

#: The one ``$schema`` a form may name (at the top of its schema).
DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: The keywords that refer to another schema.
REF_KEYWORDS = ("$ref", "$dynamicRef")


def ref_target(root: Schema, ref: str) -> object:
    """What ``ref`` points to inside ``root`` (a schema, or any value), or ``None`` when
    it points outside the form or to nothing there."""
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment == "" or fragment.startswith("/"):
        node: object = root
        for part in fragment.split("/")[1:] if fragment else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node
    return next((s for s in _subschemas(root)
                 if fragment in (s.get("$anchor"), s.get("$dynamicAnchor"))), None)


def ref_loops(root: Schema, holder: Schema, ref: str) -> bool:
    """Whether following ``ref`` (written in ``holder``) comes back to ``holder`` through
    schemas that apply to the same value (``allOf``, ``not``, ``if``, another ``$ref``...):
    jsonschema would then go round for ever on any value."""
    stack: list[object] = [ref_target(root, ref)]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if node is holder:
            return True
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        for key in ("allOf", "anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                stack.extend(node[key])
        stack.extend(node.get(key) for key in ("not", "if", "then", "else"))
        if isinstance(node.get("dependentSchemas"), dict):
            stack.extend(node["dependentSchemas"].values())
        for key in REF_KEYWORDS:
            if isinstance(node.get(key), str):
                stack.append(ref_target(root, node[key]))
    return False


def _subschemas(schema: object) -> Iterator[Schema]:
    if not isinstance(schema, dict):
        return
    yield schema
    for key in SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for sub in schema[key].values():
                yield from _subschemas(sub)
    for key in SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for sub in schema[key]:
                yield from _subschemas(sub)
    for key in ONE_SCHEMA:
        yield from _subschemas(schema.get(key))


def _refuse(uri: str) -> NoReturn:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class


#: The schema registry of every validator the server builds: it retrieves nothing.
#: jsonschema would otherwise fetch a ``$ref`` that the schema itself does not resolve (a
#: URL, a file). The form check refuses such references; with this registry even a stored
#: form that has one cannot make the server read a URL or a file: the reference stays
#: unresolved (``referencing.exceptions.Unresolvable``). jsonschema adds the bundled
#: meta-schemas to it, so the 2020-12 ``$schema`` still resolves.
NO_FETCH: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]
