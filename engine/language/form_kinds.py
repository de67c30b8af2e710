"""The form builder's field kinds: what quality staff choose from (文本, 多行文本, 数字, 单选,
多选, 日期, 日期时间, 是/否, 人员, 照片, 附件, 表格, 分组, 计算值), how each is written in a form's
JSON Schema, how an existing field is recognised as one of them, the settings the builder
shows for it, field ids made from titles, and visibility conditions that a picker can show.

Pure: no I/O. The builder writes through ``engine.language.yaml_edit`` so the rest of the
file keeps its comments and order; ``builder_fields`` and ``save_fields`` are the builder's
model of a form, and saving a model unchanged gives the identical file (tested over every
shipped form).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pypinyin import Style, lazy_pinyin

from engine.i18n import N_, _, gettext
from engine.language.forms.schema import FORMAT_WIDGETS

# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """One field kind as the builder offers it."""

    id: str
    en: str  # its name: the English, and the catalog's key to the name in each language
    settings: tuple[str, ...]  # the settings it needs besides title, required and visibility


KINDS: tuple[Kind, ...] = (
    Kind("text", N_("Text"), ("placeholder",)),
    Kind("textarea", N_("Multi-line text"), ("placeholder",)),
    Kind("number", N_("Number (with unit and spec limits)"), ("unit", "limits", "range", "integer")),
    Kind("single", N_("Single choice"), ("options",)),
    Kind("multi", N_("Multiple choice"), ("options",)),
    Kind("date", N_("Date"), ()),
    Kind("datetime", N_("Date and time"), ()),
    Kind("yesno", N_("Yes/No"), ()),
    Kind("user", N_("Person"), ("several",)),
    Kind("photo", N_("Photo"), ("camera", "max_items")),
    Kind("file", N_("Attachment"), ("accept", "max_items")),
    Kind("table", N_("Table"), ("columns",)),
    Kind("group", N_("Group"), ("columns",)),
    Kind("computed", N_("Computed value"), ("compute", "unit")),
)
KIND_IDS = tuple(k.id for k in KINDS)
BY_ID = {k.id: k for k in KINDS}

# The JSON types the builder offered before it had kinds: still accepted (scripts, old pages).
LEGACY_TYPES = ("string", "number", "integer", "boolean", "date", "datetime", "table")

PHOTO_TYPES = ("image/jpeg", "image/png")
# Extensions as well as types: the phone then offers the gallery besides the camera.
PHOTO_GALLERY = ("image/jpeg", "image/png", ".jpg", ".jpeg", ".png")
_IMAGE_EXT = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".bmp"})


# Fields the builder shows but does not make (written in the text editor).
OTHER_NAMES = {"checkbox": N_("Tick box to confirm"), "signature": N_("Signature pad"), "time": N_("Time")}


def kind_name(kind_id: str, locale: str, *, short: bool = False) -> str:
    """A kind's name in the user's language (the id itself for a field of no known kind);
    ``short`` drops what the name says in brackets (数字（含单位和规格限） → 数字), for lists."""
    kind = BY_ID.get(kind_id)
    known = kind.en if kind is not None else OTHER_NAMES.get(kind_id)
    name = gettext(known, locale) if known else kind_id
    return re.split(r"\s*[（(]", name, maxsplit=1)[0] if short else name


def _json_type(schema: Mapping[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None and isinstance(schema.get("properties"), Mapping):
        return "object"
    return t if isinstance(t, str) else None


def _is_image(accept: Sequence[Any]) -> bool:
    return bool(accept) and all(str(a).startswith("image/") or str(a).lower() in _IMAGE_EXT for a in accept)


def kind_of(schema: Mapping[str, Any]) -> str:
    """The builder kind of an existing field's schema; for a field the builder does not
    make (a signature pad, a time, a tick box that must be ticked), its widget or type, which
    the builder shows as it is and never rewrites."""
    widget = schema.get("x-widget")
    typ = _json_type(schema)
    if isinstance(schema.get("x-compute"), str):
        return "computed"
    if widget == "file":
        return "photo" if _is_image(schema.get("x-accept") or []) else "file"
    if widget == "user":
        return "user"
    if widget in ("signature", "time", "checkbox") and not (widget == "checkbox" and typ == "array"):
        return str(widget)
    if typ == "object":
        return "group"
    if typ == "array":
        items = schema.get("items")
        if widget != "table" and isinstance(items, Mapping) and isinstance(items.get("enum"), list):
            return "multi"
        return "table"
    if isinstance(schema.get("enum"), list) and typ in ("string", None):
        return "single"
    if typ == "boolean":
        return "yesno" if "const" not in schema else "checkbox"
    if typ in ("number", "integer"):
        return "number"
    if typ == "string":
        fmt = schema.get("format")
        if fmt in FORMAT_WIDGETS:
            return FORMAT_WIDGETS[fmt]
        if widget == "textarea":
            return "textarea"
        return "text"
    return str(widget or typ or "text")


# --------------------------------------------------------------------------- the builder's model


@dataclass
class FieldModel:
    """One top-level field as the builder shows and edits it. ``settings`` holds exactly what
    the builder's edit form sends back for this kind; the values are those the file has."""

    name: str
    kind: str
    title: str
    required: bool
    visible_if: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    columns: list[FieldModel] = field(default_factory=list)  # a table's columns, a group's fields
    editable: bool = True  # False for a field written as one line: the text editor changes it


def _settings(schema: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The values of the kind's settings, as ``yaml_edit.update_field`` takes them."""
    out: dict[str, Any] = {}
    lim = schema.get("x-limits") if isinstance(schema.get("x-limits"), Mapping) else {}
    if kind in ("text", "textarea"):
        out["placeholder"] = schema.get("x-placeholder")
    if kind == "number":
        out["unit"] = schema.get("x-unit")
        out["minimum"] = lim.get("min") if lim else None
        out["maximum"] = lim.get("max") if lim else None
        out["range_min"] = schema.get("minimum")
        out["range_max"] = schema.get("maximum")
    if kind == "computed":
        out["compute"] = schema.get("x-compute")
        out["unit"] = schema.get("x-unit")
    if kind == "single":
        out["options"] = list(schema.get("enum") or [])
    if kind == "multi":
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        out["options"] = list((items or {}).get("enum") or [])
    if kind in ("photo", "file"):
        out["accept"] = list(schema.get("x-accept") or [])
        out["max_items"] = schema.get("maxItems")
    return out


def field_model(name: str, schema: Mapping[str, Any], required: bool) -> FieldModel:
    kind = kind_of(schema)
    columns: list[FieldModel] = []
    if kind == "table":
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        inner = (items or {}).get("properties") if isinstance((items or {}).get("properties"), Mapping) else {}
        req = set((items or {}).get("required") or [])
        columns = [field_model(str(k), v, k in req) for k, v in (inner or {}).items() if isinstance(v, Mapping)]
    elif kind == "group":
        inner = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
        req = set(schema.get("required") or [])
        columns = [field_model(str(k), v, k in req) for k, v in (inner or {}).items() if isinstance(v, Mapping)]
    visible = schema.get("x-visible-if")
    return FieldModel(name=name, kind=kind, title=str(schema.get("title") or name), required=required,
                      visible_if=visible if isinstance(visible, str) else None,
                      settings=_settings(schema, kind), columns=columns)


def builder_fields(schema: Mapping[str, Any]) -> list[FieldModel]:
    """The top-level fields of a form's schema, in order, as the builder's model."""
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    req = set(schema.get("required") or [])
    return [field_model(str(k), v, k in req) for k, v in (props or {}).items() if isinstance(v, Mapping)]


def save_fields(text: str, fields: Sequence[FieldModel]) -> str:
    """Write the builder's model back into the form's text: every field's title, required,
    visibility and settings, and the order of the fields. What did not change stays as
    written (comments, quoting, flow style), so a model saved unchanged gives ``text``."""
    from engine.language import yaml_edit

    out = text
    for f in fields:
        if not f.editable:
            continue
        out = yaml_edit.update_field(out, f.name, title=f.title, required=f.required,
                                     visible_if=f.visible_if, **f.settings)
    return yaml_edit.order_fields(out, [f.name for f in fields])


# --------------------------------------------------------------------------- ids from titles

FIELD_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# Words of the expression language: a field of that name could not be read in a condition.
RESERVED = frozenset({"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True",
                      "False", "None", "instance", "start", "decision", "comment"})
MAX_ID = 40


def field_id(title: str, taken: Sequence[str] | frozenset[str] | set[str] = ()) -> str:
    """A field id made from ``title``: Chinese as pinyin without tones, a word each
    (环境温度 → ``huan_jing_wen_du``), other letters and digits kept, lower case, ``_``
    between words, at most 40 characters, starting with a letter, and not one of ``taken``
    (``_2``, ``_3``... added) nor a word of the expression language."""
    words = lazy_pinyin(title or "", style=Style.NORMAL, errors="default")
    parts: list[str] = []
    for w in words:
        parts += re.findall(r"[a-z0-9]+", w.lower())
    base = "_".join(parts)[:MAX_ID].strip("_") or "field"
    if not base[0].isalpha():
        base = f"f_{base}"[:MAX_ID]
    used = set(taken) | RESERVED
    candidate, n = base, 1
    while candidate in used:
        n += 1
        suffix = f"_{n}"
        candidate = base[:MAX_ID - len(suffix)] + suffix
    return candidate


# --------------------------------------------------------------------------- visibility by picker

# Operators the picker offers, by kind; "yes"/"no" read a yes/no answer.
OPERATORS: dict[str, tuple[str, ...]] = {
    "text": ("==", "!="),
    "textarea": ("==", "!="),
    "single": ("==", "!="),
    "multi": ("has", "lacks"),
    "number": ("==", "!=", "<", "<=", ">", ">="),
    "computed": ("==", "!=", "<", "<=", ">", ">="),
    "yesno": ("yes", "no"),
}
_NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
_LITERAL = r"(\"(?:[^\"\\]|\\.)*\"|'[^']*'|-?\d+(?:\.\d+)?|true|false)"
_COMPARE = re.compile(rf"^\s*{_NAME}\s*(==|!=|<=|>=|<|>)\s*{_LITERAL}\s*$")
_CONTAINS = re.compile(rf"^\s*{_LITERAL}\s+(not in|in)\s+{_NAME}\s*$")
_BARE = re.compile(rf"^\s*(not\s+)?{_NAME}\s*$")


@dataclass(frozen=True)
class Condition:
    """A visibility condition the picker shows: field, operator and value (text)."""

    field: str
    op: str
    value: str = ""


def _literal(raw: str) -> str:
    if raw[0] == '"':
        loaded = json.loads(raw)
        return str(loaded)
    if raw[0] == "'":
        return raw[1:-1]
    return raw


def parse_condition(expr: str | None, kinds: Mapping[str, str]) -> Condition | None:
    """The picker's reading of ``expr`` over the sibling fields ``kinds`` (name → kind), or
    None when it is not one comparison the picker offers: the expression box then shows it
    as written and the picker leaves it alone."""
    if not expr:
        return None
    m = _COMPARE.match(expr)
    if m:
        name, op, raw = m.groups()
        kind = kinds.get(name)
        if kind == "yesno" and op in ("==", "!=") and raw in ("true", "false"):
            return Condition(name, "yes" if (raw == "true") == (op == "==") else "no")
        if kind is None or op not in OPERATORS.get(kind, ()) or raw in ("true", "false"):
            return None
        numeric = kind in ("number", "computed")
        if numeric == (raw[0] in "\"'"):
            return None
        return Condition(name, op, _literal(raw))
    m = _CONTAINS.match(expr)
    if m:
        raw, op, name = m.groups()
        if kinds.get(name) != "multi" or raw[0] not in "\"'":
            return None
        return Condition(name, "has" if op == "in" else "lacks", _literal(raw))
    m = _BARE.match(expr)
    if m and kinds.get(m.group(2)) == "yesno":
        return Condition(m.group(2), "no" if m.group(1) else "yes")
    return None


class ConditionError(ValueError):
    """A picker choice that makes no condition (unknown field, operator or number)."""


def compose_condition(cond: Condition, kinds: Mapping[str, str]) -> str:
    """The expression for a picker's choice: ``verdict == "不合格"``, ``"漏水" in defects``,
    ``measured > 10.2``, ``parts_replaced`` / ``parts_replaced == false``."""
    kind = kinds.get(cond.field)
    if kind is None:
        raise ConditionError(_("there is no field '{field}' to show this one by; choose one from the list",
                               field=cond.field))
    if cond.op not in OPERATORS.get(kind, ()):
        raise ConditionError(_("choose a condition that fits the field '{field}'", field=cond.field))
    if cond.op == "yes":
        return cond.field
    if cond.op == "no":
        return f"{cond.field} == false"
    if kind in ("number", "computed"):
        try:
            number = float(cond.value)
        except ValueError:
            raise ConditionError(_("'{value}' is not a number; write e.g. 12.5", value=cond.value)) from None
        text = str(int(number)) if number.is_integer() else repr(number)
        return f"{cond.field} {cond.op} {text}"
    quoted = json.dumps(cond.value, ensure_ascii=False)
    if cond.op == "has":
        return f"{quoted} in {cond.field}"
    if cond.op == "lacks":
        return f"{quoted} not in {cond.field}"
    return f"{cond.field} {cond.op} {quoted}"
