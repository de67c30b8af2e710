"""Forms on web pages: the input tree a template renders, posted fields back to typed JSON,
uploads, and the read-only view of recorded data.

Input names are the data path under a prefix: ``f.customer``, ``f.contact.phone``,
``f.items.0.result`` (table rows), so server errors (``items.0.result``) find their field.
A file field keeps its attachment ids in hidden inputs of its own name and takes new files
from the file input ``NAME:upload``; the view has them stored first (``posted_files``, then ``engine.app.uploads.store_files``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.app.uploads import Upload
from engine.language.forms import default_widget
from engine.language.forms.formats import instant_of, names_instant
from engine.language.forms.schema import SCAN_KINDS
from web.i18n import _, display_zone, fmt_time, get_locale

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

    from engine.language.forms import Form

PREFIX = "f"
UPLOAD_SUFFIX = ":upload"


# --------------------------------------------------------------------------- schema helpers


def _type(schema: Mapping) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None and isinstance(schema.get("properties"), dict):
        return "object"
    return t


def widget_of(schema: Mapping) -> str:
    return schema.get("x-widget") or default_widget(dict(schema))


def _options(schema: Mapping) -> list | None:
    enum = schema.get("enum")
    if enum is None and _type(schema) == "array" and isinstance(schema.get("items"), dict):
        enum = schema["items"].get("enum")
    return list(enum) if isinstance(enum, list) else None


def _limits(schema: Mapping) -> tuple[Any, Any] | None:
    lim = schema.get("x-limits")
    if isinstance(lim, dict):
        return lim.get("min"), lim.get("max")
    return None


def schema_at(schema: Mapping, parts: list[str]) -> Mapping | None:
    """The schema of the field at ``parts`` (row numbers skipped), or None."""
    node: Any = schema
    for part in parts:
        if part.isdigit():
            if _type(node) != "array" or not isinstance(node.get("items"), dict):
                return None
            node = node["items"]
            continue
        props = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(props, dict) or part not in props:
            return None
        node = props[part]
    return node


def _is_table(schema: Mapping) -> bool:
    return _type(schema) == "array" and widget_of(schema) == "table"


# --------------------------------------------------------------------------- input tree


@dataclass
class Messages:
    """Errors and out-of-limit flags by data path."""

    errors: dict[str, list[str]]
    flags: dict[str, list[str]]

    @classmethod
    def of(cls, errors: list[dict] | None = None, flags: list[dict] | None = None) -> Messages:
        e: dict[str, list[str]] = {}
        for item in errors or []:
            e.setdefault(item.get("field", ""), []).append(item.get("message", ""))
        f: dict[str, list[str]] = {}
        for item in flags or []:
            f.setdefault(item.get("field", ""), []).append(item.get("message", ""))
        return cls(e, f)


def field_tree(schema: Mapping, data: Mapping | None, messages: Messages | None = None, *,
               attachment: Callable[[str], Mapping | None] | None = None,
               prefix: str = PREFIX) -> list[dict]:
    """The nodes a template renders for ``schema`` filled with ``data``."""
    messages = messages or Messages({}, {})
    return _nodes(schema, data if isinstance(data, Mapping) else {}, (), prefix, messages,
                  attachment or (lambda _id: None))


def _nodes(schema: Mapping, data: Mapping, path: tuple, prefix: str, msgs: Messages,
           attachment: Callable[[str], Mapping | None]) -> list[dict]:
    props = schema.get("properties") or {}
    required = schema.get("required") or []
    out = []
    for key, sub in props.items():
        if not isinstance(sub, dict):
            continue
        out.append(_node(key, sub, data.get(key), (*path, key), prefix, key in required, msgs,
                         attachment))
    return out


def _node(key: str, sub: Mapping, value: Any, path: tuple, prefix: str, required: bool,
          msgs: Messages, attachment: Callable[[str], Mapping | None]) -> dict:
    dotted = ".".join(str(p) for p in path)
    name = f"{prefix}.{dotted}"
    widget = widget_of(sub)
    typ = _type(sub)
    node: dict[str, Any] = {
        "key": key, "path": dotted, "name": name, "widget": widget, "type": typ,
        "title": str(sub.get("title") or key), "description": sub.get("description") or "",
        "required": required, "unit": sub.get("x-unit"), "limits": _limits(sub),
        "placeholder": sub.get("x-placeholder") or "", "visible_if": sub.get("x-visible-if") or "",
        "scope": name.rsplit(".", 1)[0], "errors": msgs.errors.get(dotted, []),
        "flags": msgs.flags.get(dotted, []), "value": value, "multiple": typ == "array",
        "meaning": sub.get("x-meaning") or "", "accept": sub.get("x-accept") or [],
        "max_size": sub.get("x-max-size") if isinstance(sub.get("x-max-size"), int) else None,
        "minimum": sub.get("minimum"), "maximum": sub.get("maximum"),
        "compute": sub.get("x-compute") if isinstance(sub.get("x-compute"), str) and len(path) == 1 else None,
        # x-scan: a 扫码 button beside the input (web/static/scan.js); only kinds the form check knows
        "scan": sub.get("x-scan") if sub.get("x-scan") in SCAN_KINDS else None,
    }
    if widget == "datetime":
        node["value"] = _input_time(value)
    if node["compute"]:
        node["text"] = _fmt(value, sub)
    options = _options(sub)
    if options is not None:
        chosen = value if isinstance(value, list) else ([] if value is None else [value])
        labels = sub.get("x-labels") or {}  # English labels of the stored values (Form.shown_schema)
        node["options"] = [{"value": _str(o), "label": labels.get(_str(o), _str(o)),
                            "checked": any(_same(o, c) for c in chosen)} for o in options]
    if widget == "yesno":
        node["options"] = [{"value": "true", "label": _("Yes"), "checked": value is True},
                           {"value": "false", "label": _("No"), "checked": value is False}]
    if widget == "group" or (typ == "object" and isinstance(sub.get("properties"), dict)):
        node["widget"] = "group"
        node["children"] = _nodes(sub, value if isinstance(value, Mapping) else {}, path, prefix,
                                  msgs, attachment)
    elif widget == "table":
        items = sub.get("items") if isinstance(sub.get("items"), dict) else {}
        rows = value if isinstance(value, list) else []
        node["rows"] = [_row(items, row, (*path, i), prefix, msgs, attachment)
                        for i, row in enumerate(rows)]
        node["template"] = _row(items, None, (*path, "__i__"), prefix, Messages({}, {}), attachment)
        node["columns"] = ([{"title": str(s.get("title") or k),
                             "required": k in (items.get("required") or [])}
                            for k, s in (items.get("properties") or {}).items()]
                           if _type(items) == "object" else [{"title": node["title"], "required": True}])
        node["next_index"] = len(rows)
    elif widget in ("file", "signature"):
        ids = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        node["files"] = [{"id": str(i), **(attachment(str(i)) or {"filename": str(i)})} for i in ids]
        # A field that takes only photos opens the phone's camera (it may still pick a file).
        node["camera"] = bool(node["accept"]) and all(str(a).startswith("image/") for a in node["accept"])
    return node


def _row(items: Mapping, row: Any, path: tuple, prefix: str, msgs: Messages,
         attachment: Callable[[str], Mapping | None]) -> dict:
    dotted = ".".join(str(p) for p in path)
    if _type(items) == "object":
        cells = _nodes(items, row if isinstance(row, Mapping) else {}, path, prefix, msgs, attachment)
    else:  # a table of plain values: one cell per row
        cells = [_node(str(path[-1]), items, row, path, prefix, True, msgs, attachment)]
    for c in cells:
        c["in_row"] = True
    return {"cells": cells, "errors": msgs.errors.get(dotted, []), "path": dotted}


def _str(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return "" if v is None else str(v)


def _same(option: Any, value: Any) -> bool:
    return _str(option) == _str(value)


def shown_schema(form: Form) -> Mapping:
    """The form's schema as this page shows it: with the English titles and choice labels of
    its ``en:`` block on an English page (``Form.shown_schema``); parse posted data with
    ``form.schema``."""
    return form.shown_schema(get_locale())


def computed_text(form: Form, values: Mapping[str, Any]) -> dict[str, str]:
    """Computed values as a page shows them (units, yes/no): the live totals' text."""
    props = form.schema.get("properties") or {}
    return {name: _fmt(value, props.get(name) or {}) for name, value in values.items()}


# --------------------------------------------------------------------------- posted data


def parse_submission(schema: Mapping, form: MultiDict, extra: Mapping[str, list[str]] | None = None,
                     prefix: str = PREFIX) -> dict:
    """Posted inputs as typed JSON in the shape of ``schema``; empty inputs are left out.

    ``extra`` maps input names of file fields to newly uploaded attachment ids. A number
    that does not parse stays text, so validation reports it and the page shows it again.
    """
    return _parse_object(schema, form, prefix, extra or {})


def _parse_object(schema: Mapping, form: MultiDict, prefix: str, extra: Mapping) -> dict:
    out: dict[str, Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        value = _parse_field(sub, form, f"{prefix}.{key}", extra)
        if value is not None:
            out[key] = value
    return out


def _row_indices(form: MultiDict, name: str) -> list[int]:
    start = name + "."
    found = set()
    for k in form:
        if k.startswith(start):
            head = k[len(start):].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def _parse_field(sub: Mapping, form: MultiDict, name: str, extra: Mapping) -> Any:
    typ = _type(sub)
    widget = widget_of(sub)
    if typ == "object" and isinstance(sub.get("properties"), dict):
        value = _parse_object(sub, form, name, extra)
        return value or None
    if widget in ("file", "signature"):
        ids = [v for v in form.getlist(name) if v] + list(extra.get(name, []))
        if typ == "array":
            return ids or None
        return ids[-1] if ids else None
    if typ == "array":
        items = sub.get("items") if isinstance(sub.get("items"), dict) else {}
        if widget == "table" or _type(items) == "object":
            rows = []
            for i in _row_indices(form, name):
                if _type(items) == "object":
                    row = _parse_object(items, form, f"{name}.{i}", extra)
                else:
                    row = _parse_field(items, form, f"{name}.{i}", extra)
                if row not in (None, {}):
                    rows.append(row)
            return rows or None
        values = [_scalar(items, v) for v in form.getlist(name)]
        values = [v for v in values if v is not None]
        return values or None
    if typ == "boolean":
        values = form.getlist(name)
        if not values:
            return None
        last = values[-1]
        return {"true": True, "on": True, "false": False, "": None}.get(last, last)
    values = form.getlist(name)
    return _scalar(sub, values[-1]) if values else None


def _scalar(sub: Mapping, raw: str) -> Any:
    raw = raw.strip() if isinstance(raw, str) else raw
    if raw in (None, ""):
        return None
    options = sub.get("enum")
    if isinstance(options, list):
        for o in options:
            if _str(o) == raw:
                return o
    typ = _type(sub)
    if typ in ("number", "integer"):
        try:
            num = float(raw)
        except ValueError:
            return raw
        if num.is_integer() and ("." not in raw and "e" not in raw.lower() or typ == "integer"):
            return int(num)
        return num
    if typ == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


# --------------------------------------------------------------------------- uploads


def posted_files(schema: Mapping, files: MultiDict, prefix: str = PREFIX) -> list[Upload]:
    """The files posted to the file and signature fields of ``schema`` (input ``NAME:upload``),
    for ``engine.app.uploads.store_files``; inputs that are not such a field are ignored."""
    out = []
    for input_name in files:
        if not input_name.endswith(UPLOAD_SUFFIX) or not input_name.startswith(prefix + "."):
            continue
        name = input_name[: -len(UPLOAD_SUFFIX)]
        parts = name[len(prefix) + 1:].split(".")
        sub = schema_at(schema, parts)
        if sub is None or widget_of(sub) not in ("file", "signature"):
            continue
        for upload in files.getlist(input_name):
            if upload and upload.filename:
                out.append(Upload(name, ".".join(parts), upload.filename, upload.stream,
                                  sub.get("x-max-size"), list(sub.get("x-accept") or [])))
    return out


# --------------------------------------------------------------------------- read-only view


def view_tree(form: Form | None, data: Mapping | None, *, flags: list[dict] | None = None,
              corrections: Mapping[str, list[dict]] | None = None, step: str = "",
              names: Mapping[str, str] | None = None) -> list[dict]:
    """Recorded data with the form's labels: nodes ``{title, kind, text|rows|children|files}``.

    Keys the form does not declare (an approval's ``decision`` and ``comment``, a multi-party
    approval's counts and approvers: engine/runtime/approvals.py) follow, labelled in the UI
    language; approvers by their full names where ``names`` (user name → full name) has them.
    """
    data = data if isinstance(data, Mapping) else {}
    if flags is None and form is not None:
        try:
            flags = form.out_of_limits(dict(data))
        except Exception:  # display only: a malformed record still shows
            flags = []
    by_flag = Messages.of(None, flags).flags
    schema = shown_schema(form) if form is not None else {}
    nodes = _view_nodes(schema, data, (), by_flag)
    known = set(schema.get("properties") or {})
    for key, value in data.items():
        if key not in known:
            nodes.append({"title": _EXTRA_KEYS[key]() if key in _EXTRA_KEYS else key, "kind": "scalar",
                          "text": _extra_text(key, value, names or {}), "path": key, "flags": []})
    for node in nodes:
        node["corrections"] = list((corrections or {}).get(f"{step}.{node['path']}", []))
    return nodes


# The labels of the keys an approval step records beside (or instead of) a form's fields.
_EXTRA_KEYS: dict[str, Callable[[], str]] = {
    "comment": lambda: _("Comment"), "decision": lambda: _("decision"),
    "approvals": lambda: _("Approvals"), "rejections": lambda: _("Rejections"),
    "approvers": lambda: _("Approvers"),
}


def _extra_text(key: str, value: Any, names: Mapping[str, str]) -> str:
    if key == "decision" and isinstance(value, str):
        return _(value)
    if key == "approvers" and isinstance(value, list):
        return "、".join(names.get(str(u)) or str(u) for u in value)
    return _fmt(value, {})


def _view_nodes(schema: Mapping, data: Mapping, path: tuple, flags: dict) -> list[dict]:
    out = []
    for key, sub in (schema.get("properties") or {}).items():
        if key not in data or not isinstance(sub, dict):
            continue
        out.append(_view_node(key, sub, data[key], (*path, key), flags))
    return out


def _view_node(key: str, sub: Mapping, value: Any, path: tuple, flags: dict) -> dict:
    dotted = ".".join(str(p) for p in path)
    title = str(sub.get("title") or key)
    widget = widget_of(sub)
    base = {"title": title, "path": dotted, "flags": flags.get(dotted, [])}
    if widget in ("file", "signature"):
        ids = value if isinstance(value, list) else [value]
        return {**base, "kind": "files", "files": [str(i) for i in ids if i]}
    if _type(sub) == "object" and isinstance(value, Mapping):
        return {**base, "kind": "group", "children": _view_nodes(sub, value, path, flags)}
    items = sub.get("items") if isinstance(sub.get("items"), dict) else {}
    if _type(sub) == "array" and _type(items) == "object" and isinstance(value, list):
        cols = [(k, s) for k, s in (items.get("properties") or {}).items() if isinstance(s, dict)]
        rows = []
        for i, row in enumerate(value):
            row = row if isinstance(row, Mapping) else {}
            rows.append([{"text": _fmt(row.get(k), s) if k in row else "",
                          "flags": flags.get(f"{dotted}.{i}.{k}", [])} for k, s in cols])
        return {**base, "kind": "table", "columns": [str(s.get("title") or k) for k, s in cols],
                "rows": rows}
    node = {**base, "kind": "scalar", "text": _fmt(value, sub)}
    limits = _limits(sub)
    if limits is not None:  # printed beside the value: what it was measured against
        unit = f" {sub['x-unit']}" if sub.get("x-unit") else ""
        low, high = (_fmt(v, {}) if v is not None else None for v in limits)
        node["spec"] = (f"{low} ~ {high}" if low is not None and high is not None
                        else f"≥ {low}" if low is not None else f"≤ {high}") + unit
    return node


def display(value: Any, sub: Mapping | None = None) -> str:
    """A recorded value as pages show it (是/否 for yes/no, the unit after a number)."""
    return _fmt(value, sub or {})


def display_at(form: Form | None, path: str, value: Any) -> str:
    """The value of the field at ``path`` (``items.0.result``) of ``form`` as pages show it:
    with that field's labels, unit and time zone (a correction's old and new values)."""
    sub = schema_at(shown_schema(form), path.split(".")) if form is not None else None
    return _fmt(value, sub if isinstance(sub, Mapping) else {})


def _fmt(value: Any, sub: Mapping) -> str:
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(_fmt(v, sub.get("items") if isinstance(sub.get("items"), dict) else {})
                        for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v, {})}" for k, v in value.items())
    text = str(value)
    if isinstance(sub.get("x-labels"), dict) and text in sub["x-labels"]:
        return str(sub["x-labels"][text])  # a choice's English label; the record keeps the value
    if sub.get("x-unit") and isinstance(value, int | float):
        text = f"{text} {sub['x-unit']}"
    if sub.get("format") == "date-time" and "T" in text:
        # An instant with its offset (an API client's "...Z") in the display zone, as every
        # other time; one without (what a browser's input sends) is the wall time people typed.
        return fmt_time(text) if names_instant(text) else text.replace("T", " ")
    return text


def _input_time(value: Any) -> Any:
    """A recorded date-time as a ``datetime-local`` input takes it: an instant with an offset
    becomes the display zone's wall time (the input has no zone; a browser sends it back as typed)."""
    moment = instant_of(value) if isinstance(value, str) else None
    if moment is None:
        return value
    return moment.astimezone(display_zone()).strftime("%Y-%m-%dT%H:%M")
