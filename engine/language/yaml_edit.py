"""Edits of procedure and form YAML for the visual editors, keeping everything else as written.

The visual form builder and step editor must write the same text the text editor shows, so
each edit loads the file with ruamel.yaml in round-trip mode (comments, key order, quoting and
flow style survive), changes one node and dumps it again. PyYAML cannot do this: it drops
comments. Pure functions of text to text; no I/O.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from engine.errors import WorkflowError
from engine.i18n import _
from engine.language import form_kinds
from engine.language.procedure import STEP_ID, STEP_TYPES
from engine.language.yaml_source import limit_problem

FIELD_TYPES = ("string", "number", "integer", "boolean", "date", "datetime", "table")


class EditError(WorkflowError):
    """An edit that cannot be applied (unknown field or step, name taken, bad value)."""

    code = "edit_invalid"


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long lines (Chinese instructions are long)
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _load(text: str) -> CommentedMap:
    bound = limit_problem(text)  # ruamel recurses per level and expands aliases as PyYAML does
    if bound is not None:
        raise EditError(_("{problem}; fix it in the text editor first", problem=bound.message))
    try:
        doc = _yaml().load(text)
    except Exception as exc:  # ruamel raises several parser/scanner classes
        raise EditError(_("the YAML cannot be read ({error}); fix it in the text editor first", error=exc.__class__.__name__)) from exc
    if not isinstance(doc, CommentedMap):
        raise EditError(_("the file is not a mapping; fix it in the text editor first"))
    return doc


def _dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def round_trip(text: str) -> str:
    """Load and dump without changes (the editors' baseline; equal to ``text`` for our files)."""
    return _dump(_load(text))


# --------------------------------------------------------------------------- forms


def set_top(text: str, **values: str) -> str:
    """The document with top-level keys set (``id``, ``title``...), comments and order kept."""
    doc = _load(text)
    for key, value in values.items():
        doc[key] = value
    return _dump(doc)


def _flow(items: Sequence[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _properties(doc: CommentedMap) -> CommentedMap:
    schema = doc.get("schema")
    props = schema.get("properties") if isinstance(schema, CommentedMap) else None
    if not isinstance(props, CommentedMap):
        raise EditError(_("the form has no 'schema.properties' mapping; add 'schema: {{type: object, properties: {{}}}}'"))
    return props


def field_schema(*, type: str, title: str, options: Sequence[str] = (), unit: str | None = None,
                 minimum: float | None = None, maximum: float | None = None,
                 visible_if: str | None = None, columns: Sequence[Mapping[str, Any]] = (),
                 compute: str | None = None, placeholder: str | None = None,
                 range_min: float | None = None, range_max: float | None = None, integer: bool = False,
                 accept: Sequence[str] = (), max_items: int | None = None, camera: bool = True,
                 several: bool = False) -> CommentedMap:
    """The schema of one field as the form builder describes it.

    ``type`` is a builder kind (``form_kinds.KIND_IDS``: text, textarea, number, single,
    multi, date, datetime, yesno, user, photo, file, table, group, computed) or one of the
    JSON types of ``FIELD_TYPES``. ``table`` makes a repeating table and ``group`` a group of
    fields; their ``columns`` are field descriptions themselves (name, type, title, ...).
    Limits on a number (``minimum``/``maximum``) become ``x-limits`` (out of specification is
    recorded, not refused) as in docs/forms.md; ``range_min``/``range_max`` are the JSON
    Schema bounds of values that cannot be right.
    """
    if type not in FIELD_TYPES and type not in form_kinds.KIND_IDS:
        names = ", ".join(dict.fromkeys([*form_kinds.KIND_IDS, *FIELD_TYPES]))
        raise EditError(_("unknown field type '{type}'; choose one of {types}", type=type, types=names))
    node = CommentedMap()
    if type in ("table", "group"):
        if not columns:
            raise EditError(_("a table or a group needs at least one column; write one per line as id:type:label"))
        inner = CommentedMap(type="object", properties=CommentedMap())
        for col in columns:
            col = dict(col)
            name = str(col.pop("name", "")).strip()
            if not name:
                name = form_kinds.field_id(str(col.get("title", "")), set(inner["properties"]))
            if name in inner["properties"]:
                raise EditError(_("two columns are named '{name}'; give each its own id", name=name))
            col.pop("required", None)
            sub = field_schema(**col)
            sub.fa.set_flow_style()  # one line per column, as the shipped forms write them
            inner["properties"][name] = sub
        if type == "table":
            node["type"] = "array"
            node["title"] = title
            node["x-widget"] = "table"
            node["items"] = inner
        else:
            node["type"] = "object"
            node["title"] = title
            node["properties"] = inner["properties"]
    elif type in ("date", "datetime"):
        node["type"] = "string"
        node["format"] = "date" if type == "date" else "date-time"
        node["title"] = title
        if type == "datetime":
            node["x-widget"] = "datetime"
    elif type in ("text", "textarea"):
        node["type"] = "string"
        node["title"] = title
        if type == "textarea":
            node["x-widget"] = "textarea"
    elif type == "single":
        if len(options) < 2:
            raise EditError(_("a choice needs at least two options, separated by commas"))
        node["type"] = "string"
        node["title"] = title
    elif type == "multi":
        if len(options) < 2:
            raise EditError(_("a choice needs at least two options, separated by commas"))
        node["type"] = "array"
        node["title"] = title
        items = CommentedMap(type="string", enum=_flow(list(options)))
        items.fa.set_flow_style()
        node["items"] = items
        node["uniqueItems"] = True
        node["x-widget"] = "checkbox"
        options = ()
    elif type == "yesno":
        node["type"] = "boolean"
        node["title"] = title
    elif type == "user":
        node["type"] = "array" if several else "string"
        node["title"] = title
        if several:
            node["items"] = _flow_map(type="string")
        node["x-widget"] = "user"
    elif type in ("photo", "file"):
        node["type"] = "array"
        node["title"] = title
        node["items"] = _flow_map(type="string")
        if max_items is not None:
            node["maxItems"] = _count(max_items)
        node["x-widget"] = "file"
        kinds = (form_kinds.PHOTO_TYPES if camera else form_kinds.PHOTO_GALLERY) if type == "photo" else accept
        if kinds:
            node["x-accept"] = _flow(list(kinds))
    elif type == "computed":
        if not compute:
            raise EditError(_("a computed value needs its expression, e.g. sum_of(lines, 'amount')"))
        node["type"] = "number"
        node["title"] = title
    else:
        node["type"] = "integer" if type == "number" and integer else type
        node["title"] = title
    if options:
        if type not in ("string", "text", "single"):
            raise EditError(_("options apply to text fields only, not to '{type}'", type=type))
        node["enum"] = _flow(list(options))
    if placeholder:
        node["x-placeholder"] = placeholder
    if range_min is not None or range_max is not None:
        if type not in ("number", "integer"):
            raise EditError(_("the smallest and largest possible values apply to number fields only"))
        if range_min is not None and range_max is not None and range_min > range_max:
            raise EditError(_("the smallest possible value {low} is above the largest {high}; swap them",
                              low=range_min, high=range_max))
        if range_min is not None:
            node["minimum"] = range_min
        if range_max is not None:
            node["maximum"] = range_max
    if unit:
        node["x-unit"] = unit
    if minimum is not None or maximum is not None:
        if type not in ("number", "integer"):
            raise EditError(_("limits apply to number fields only; field type is '{type}'", type=type))
        if minimum is not None and maximum is not None and minimum > maximum:
            raise EditError(_("the lower limit {low} is above the upper limit {high}; swap them", low=minimum, high=maximum))
        limits = CommentedMap()
        if minimum is not None:
            limits["min"] = minimum
        if maximum is not None:
            limits["max"] = maximum
        limits.fa.set_flow_style()
        node["x-limits"] = limits
    if visible_if:
        node["x-visible-if"] = visible_if
    if compute:
        if type in ("table", "group"):
            raise EditError(_("a table is entered, not computed; compute its total into a number field, "
                              "e.g. sum_of(TABLE, 'COLUMN')"))
        node["x-compute"] = compute
    return node


def _flow_map(**items: Any) -> CommentedMap:
    node = CommentedMap(items)
    node.fa.set_flow_style()
    return node


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or int(value) != value:
        raise EditError(_("the number of files must be a whole number from 1, not '{value}'", value=value))
    return int(value)


def add_field(text: str, name: str, *, required: bool = False, after: str | None = None,
              **spec: Any) -> str:
    """Add field ``name`` (after field ``after``, else at the end); see ``field_schema``."""
    doc = _load(text)
    props = _properties(doc)
    name = name.strip()
    if not name or not name.replace("_", "a").isalnum() or not name[0].isalpha():
        raise EditError(_("field name '{name}' must start with a letter and use letters, digits and _", name=name))
    if name in props:
        raise EditError(_("the form already has a field '{name}'; choose another name", name=name))
    node = field_schema(**spec)
    pos = len(props)
    if after:
        if after not in props:
            raise EditError(_("no field '{name}' to insert after; known fields: {fields}", name=after, fields=", ".join(props)))
        pos = list(props).index(after) + 1
    _insert(props, pos, name, node)
    if required:
        schema = doc["schema"]
        req = schema.get("required")
        if req is None:
            schema.insert(list(schema).index("properties"), "required", _flow([name]))
        else:
            req.append(name)
    return _dump(doc)


def _insert(mapping: CommentedMap, pos: int, key: str, value: Any) -> None:
    """Insert keeping the comment that trails the previous last entry where it was."""
    if pos >= len(mapping):
        last = list(mapping)[-1] if mapping else None
        trailing = mapping.ca.items.pop(last, None) if last is not None else None
        mapping[key] = value
        # A comment after the old last entry (often a blank line and the next section's
        # comment) belongs below the new one, or it would end up between the two.
        if trailing is not None:
            mapping.ca.items[key] = trailing
    else:
        mapping.insert(pos, key, value)


_UNSET: Any = object()


def update_field(text: str, name: str, *, title: str | None = None, required: bool | None = None,
                 unit: Any = _UNSET, minimum: Any = _UNSET, maximum: Any = _UNSET,
                 options: Any = _UNSET, visible_if: Any = _UNSET, compute: Any = _UNSET,
                 placeholder: Any = _UNSET, range_min: Any = _UNSET, range_max: Any = _UNSET,
                 accept: Any = _UNSET, max_items: Any = _UNSET) -> str:
    """Change some properties of an existing field; only the keys passed are touched
    (``None`` removes unit, a limit, the options, the condition or the computation).
    ``minimum``/``maximum`` are the specification limits (``x-limits``), ``range_min``/
    ``range_max`` the JSON Schema bounds; ``options`` of a multiple choice are its items'."""
    doc = _load(text)
    props = _properties(doc)
    if name not in props:
        raise EditError(_("the form has no field '{name}'; known fields: {fields}", name=name, fields=", ".join(props)))
    node = props[name]
    if not isinstance(node, CommentedMap):
        raise EditError(_("field '{name}' is written as one line; change it in the text editor", name=name))
    typ = node.get("type")

    def put(key: str, value: Any) -> None:
        if value is None or value == "" or value == []:
            node.pop(key, None)
        elif node.get(key) != value:
            node[key] = value

    if title is not None and title.strip():
        put("title", title.strip())
    if unit is not _UNSET:
        put("x-unit", unit)
    if options is not _UNSET:
        items = node.get("items")
        if typ == "array" and isinstance(items, CommentedMap) and "enum" in items:
            if len(options) < 2:
                raise EditError(_("a choice needs at least two options, separated by commas"))
            if options != list(items.get("enum") or []):
                items["enum"] = _flow(list(options))
        else:
            if options and typ != "string":
                raise EditError(_("options apply to text fields only; field '{name}' is '{type}'", name=name, type=typ))
            if options != list(node.get("enum") or []):
                put("enum", _flow(list(options)) if options else None)
    if placeholder is not _UNSET:
        put("x-placeholder", placeholder)
    if accept is not _UNSET and list(accept or []) != list(node.get("x-accept") or []):
        put("x-accept", _flow(list(accept)) if accept else None)
    if max_items is not _UNSET and max_items != node.get("maxItems"):
        put("maxItems", None if max_items is None else _count(max_items))
    for key, value in (("minimum", range_min), ("maximum", range_max)):
        if value is not _UNSET and value != node.get(key):
            if value is not None and typ not in ("number", "integer"):
                raise EditError(_("the smallest and largest possible values apply to number fields only"))
            put(key, value)
    if range_min is not _UNSET or range_max is not _UNSET:
        low_r, high_r = node.get("minimum"), node.get("maximum")
        if low_r is not None and high_r is not None and low_r > high_r:
            raise EditError(_("the smallest possible value {low} is above the largest {high}; swap them",
                              low=low_r, high=high_r))
    if visible_if is not _UNSET:
        put("x-visible-if", visible_if)
    if compute is not _UNSET:
        put("x-compute", compute)
    if minimum is not _UNSET or maximum is not _UNSET:
        old = node.get("x-limits") or {}
        low = old.get("min") if minimum is _UNSET else minimum
        high = old.get("max") if maximum is _UNSET else maximum
        if (low is not None or high is not None) and typ not in ("number", "integer"):
            raise EditError(_("limits apply to number fields only; field '{name}' is '{type}'", name=name, type=typ))
        if low is not None and high is not None and low > high:
            raise EditError(_("the lower limit {low} is above the upper limit {high}; swap them", low=low, high=high))
        if (low, high) != (old.get("min"), old.get("max")):
            limits = CommentedMap()
            if low is not None:
                limits["min"] = low
            if high is not None:
                limits["max"] = high
            limits.fa.set_flow_style()
            put("x-limits", limits if limits else None)
    if required is not None:
        schema = doc["schema"]
        req = schema.get("required")
        if required and (req is None or name not in req):
            if req is None:
                schema.insert(list(schema).index("properties"), "required", _flow([name]))
            else:
                req.append(name)
        elif not required and req is not None and name in req:
            req.remove(name)
    return _dump(doc)


def remove_field(text: str, name: str) -> str:
    """Remove field ``name`` and its entry in ``required``."""
    doc = _load(text)
    props = _properties(doc)
    if name not in props:
        raise EditError(_("the form has no field '{name}'; known fields: {fields}", name=name, fields=", ".join(props)))
    del props[name]
    req = doc["schema"].get("required")
    if req is not None and name in req:
        req.remove(name)
    return _dump(doc)


def move_field(text: str, name: str, offset: int) -> str:
    """Move field ``name`` up (negative ``offset``) or down among the fields."""
    doc = _load(text)
    props = _properties(doc)
    if name not in props:
        raise EditError(_("the form has no field '{name}'; known fields: {fields}", name=name, fields=", ".join(props)))
    keys = list(props)
    old = keys.index(name)
    new = max(0, min(len(keys) - 1, old + offset))
    if new == old:
        return _dump(doc)
    value = props[name]
    comment = props.ca.items.pop(name, None)
    del props[name]
    props.insert(new, name, value)
    if comment is not None:
        props.ca.items[name] = comment
    return _dump(doc)


def add_columns(text: str, name: str, columns: Sequence[Mapping[str, Any]]) -> str:
    """Columns added at the end of table ``name`` (or fields at the end of group ``name``),
    each described as ``field_schema`` takes it; an empty name is made from the label."""
    doc = _load(text)
    props = _properties(doc)
    node = props.get(name)
    if not isinstance(node, CommentedMap):
        raise EditError(_("the form has no field '{name}'; known fields: {fields}", name=name, fields=", ".join(props)))
    items = node.get("items") if node.get("type") == "array" else node
    inner = items.get("properties") if isinstance(items, CommentedMap) else None
    if not isinstance(inner, CommentedMap):
        raise EditError(_("'{name}' is not a table or a group; add fields to the form instead", name=name))
    for col in columns:
        col = dict(col)
        col_name = str(col.pop("name", "")).strip() or form_kinds.field_id(str(col.get("title", "")), set(inner))
        if col_name in inner:
            raise EditError(_("two columns are named '{name}'; give each its own id", name=col_name))
        col.pop("required", None)
        sub = field_schema(**col)
        sub.fa.set_flow_style()
        _insert(inner, len(inner), col_name, sub)
    return _dump(doc)


def move_field_to(text: str, name: str, position: int) -> str:
    """Move field ``name`` to ``position`` (0 is first) among the fields: a drag and drop."""
    doc = _load(text)
    keys = list(_properties(doc))
    if name not in keys:
        raise EditError(_("the form has no field '{name}'; known fields: {fields}", name=name, fields=", ".join(keys)))
    keys.remove(name)
    keys.insert(max(0, min(len(keys), position)), name)
    return order_fields(text, keys)


def order_fields(text: str, names: Sequence[str]) -> str:
    """The fields in the order ``names`` gives (every field exactly once), each keeping its
    comment; unchanged order gives ``text`` unchanged."""
    doc = _load(text)
    props = _properties(doc)
    keys = list(props)
    if sorted(names) != sorted(keys):
        raise EditError(_("the form changed meanwhile; reload the page and move the field again"))
    if list(names) == keys:
        return text
    # Moving entries one by one keeps each one's comment with it; the comment after the old
    # last field (often the blank line before the next section) stays last.
    trailing = props.ca.items.pop(keys[-1], None)
    for pos, key in enumerate(names):
        if list(props).index(key) == pos:
            continue
        value = props[key]
        comment = props.ca.items.pop(key, None)
        del props[key]
        props.insert(pos, key, value)
        if comment is not None:
            props.ca.items[key] = comment
    if trailing is not None:
        props.ca.items[list(props)[-1]] = trailing
    return _dump(doc)


# --------------------------------------------------------------------------- procedures


def _steps(doc: CommentedMap) -> CommentedMap:
    steps = doc.get("steps")
    if not isinstance(steps, CommentedMap):
        raise EditError(_("the procedure has no 'steps' mapping; add 'steps:'"))
    return steps


def add_step(text: str, step_id: str, *, title: str, role: str, form: str | None = None,
             type: str = "task", within: str | None = None, escalate: str | None = None,
             signature: str | None = None, next: str | Sequence[Mapping[str, str]] | None = None,
             after: str | None = None, approvers: Sequence[str] = (), mode: str | None = None) -> str:
    """Add a step; with ``after`` it is placed after that step and takes over its ``next``
    (the old step then leads to the new one), so the graph stays connected.

    An approval with ``approvers`` (role ids) is a multi-party approval: ``mode`` is ``all``
    (会签), ``any`` (或签), ``sequence`` (依次) or ``at_least:N``; ``role`` stays where an
    approver found nobody goes.

    ``next`` is a step id or a list of ``{"if": expr, "goto": step}`` ending with
    ``{"else": step}``.
    """
    doc = _load(text)
    steps = _steps(doc)
    if step_id in steps:
        raise EditError(_("the procedure already has a step '{step}'; choose another id", step=step_id))
    node = CommentedMap()
    if type != "task":
        node["type"] = type
    node["title"] = title
    node["role"] = role
    if approvers:
        if type != "approval":
            raise EditError(_("approvers belong to an approval step; choose the type 'approval'"))
        seq = CommentedSeq()
        for r in approvers:
            item = CommentedMap(role=r)
            item.fa.set_flow_style()
            seq.append(item)
        node["approvers"] = seq
        if mode and mode.startswith("at_least:"):
            count = mode.partition(":")[2]
            if not count.isdigit() or not 1 <= int(count) <= len(approvers):
                raise EditError(_("'at least' needs a number from 1 to {n} (the approvers chosen)", n=len(approvers)))
            at_least = CommentedMap(at_least=int(count))
            at_least.fa.set_flow_style()
            node["mode"] = at_least
        elif mode in ("all", "any", "sequence"):
            node["mode"] = mode
        elif mode:
            raise EditError(_("unknown approval mode '{mode}'; choose all, any, sequence or at least N", mode=mode))
    if form:
        node["form"] = form
    if signature:
        node["signature"] = signature
    if within:
        dl = CommentedMap(within=within)
        if escalate:
            dl["escalate"] = escalate
        node["deadline"] = dl
    pos = len(steps)
    if after is not None:
        if after not in steps:
            raise EditError(_("no step '{step}' to insert after; known steps: {steps}", step=after, steps=", ".join(steps)))
        prev = steps[after]
        if next is None:
            next = prev.get("next")
        prev["next"] = step_id
        pos = list(steps).index(after) + 1
    if next is None:
        raise EditError(_("step '{step}' needs a next step; choose one from the list", step=step_id))
    node["next"] = _next_node(next)
    keys = list(steps)
    _insert(steps, pos, step_id, node)
    # Steps are separated by a blank line, which ruamel keeps as a comment on the deepest
    # last key of the step above: give the new step the same separator.
    sep = _separator(steps[keys[pos - 1]]) if pos > 0 else None
    if sep is None and pos > 1:
        sep = _separator(steps[keys[pos - 2]])
    if sep is not None:
        if pos == len(keys):  # appended: the old last step needs the separator now
            tail_map, tail_key = _tail(steps[keys[pos - 1]])
            tail_map.ca.items[tail_key] = copy.deepcopy(sep)
        else:
            tail_map, tail_key = _tail(node)
            tail_map.ca.items[tail_key] = copy.deepcopy(sep)
    return _dump(doc)


def _tail(node: CommentedMap) -> tuple[CommentedMap, Any]:
    key = list(node)[-1]
    value = node[key]
    if isinstance(value, CommentedMap) and value:
        return _tail(value)
    return node, key


def _separator(node: Any) -> list[Any] | None:
    """The blank-line comment after a step, if it has one and nothing else."""
    if not isinstance(node, CommentedMap) or not node:
        return None
    tail_map, tail_key = _tail(node)
    entry = tail_map.ca.items.get(tail_key)
    if not entry or len(entry) < 3 or entry[2] is None:
        return None
    return entry if not entry[2].value.strip() else None


def _next_node(next: Any) -> Any:
    if isinstance(next, str | CommentedSeq):
        return next
    seq = CommentedSeq()
    for item in next:
        seq.append(CommentedMap(item))
    return seq


def set_next(text: str, step_id: str, next: str | Sequence[Mapping[str, str]]) -> str:
    """Replace the ``next`` of one step (``set_step``: the blank line after the step stays)."""
    return set_step(text, step_id, {"next": next if isinstance(next, str) else [dict(item) for item in next]})


# -- renaming and deleting steps ------------------------------------------------------------

# Keys whose value is a step id, and keys whose value is a list of step ids.
_STEP_KEYS = frozenset({"step", "on_reject", "join", "goto", "else", "next"})
_STEP_LISTS = frozenset({"branches", "separate_from", "return_to"})
# Texts for people, never rewritten.
_PROSE = frozenset({"title", "description", "instructions", "outcome", "source", "meaning", "reason"})


def _dotted(old: str) -> re.Pattern[str]:
    """``old.FIELD`` in an expression or a ``STEP.FIELD`` reference (not ``x.old.y``)."""
    return re.compile(rf"(?<![\w.]){re.escape(old)}(?=\.)")


def _rewrite(node: Any, old: str, new: str, key: str | None = None) -> Any:
    """``node`` with every reference to step ``old`` made to ``new``: ids under step keys,
    ids in step lists, and ``old.FIELD`` in expressions and field references (quoting kept)."""
    if isinstance(node, dict):
        for k in list(node):
            node[k] = _rewrite(node[k], old, new, str(k))
        return node
    if isinstance(node, list):
        for i, item in enumerate(node):
            node[i] = new if key in _STEP_LISTS and item == old else _rewrite(item, old, new, key)
        return node
    if not isinstance(node, str) or key in _PROSE:
        return node
    if key in _STEP_KEYS and node == old:
        return type(node)(new) if type(node) is not str else new
    replaced = _dotted(old).sub(new, node)
    if replaced == node:
        return node
    return type(node)(replaced) if type(node) is not str else replaced


def _key_words(key: str | None) -> str:
    """A key of the language as the message names it (the key itself where it has no words)."""
    words = {"next": _("next step"), "goto": _("next step"), "else": _("next step"), "if": _("condition of a route"),
             "on_reject": _("when rejected"), "return_to": _("may be returned to"),
             "separate_from": _("separation of duties"), "hide": _("hidden fields"), "edit": _("changeable fields"),
             "prefill": _("filled in when the task opens"), "within": _("deadline"), "due_expr": _("deadline"),
             "within_expr": _("deadline"), "then": _("deadline"), "field": _("field"), "with": _("start data")}
    return words.get(key or "", key or "")


def _references(doc: CommentedMap, sid: str) -> list[str]:
    """Where ``sid`` is named, as people read it: ``step 'x' (next)``, ``ledger``..."""
    out: list[str] = []
    pattern = _dotted(sid)

    def walk(node: Any, where: str, key: str | None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, where, str(k))
        elif isinstance(node, list):
            for item in node:
                if key in _STEP_LISTS and item == sid:
                    out.append(f"{where} ({_key_words(key)})")
                else:
                    walk(item, where, key)
        elif isinstance(node, str) and key not in _PROSE and (
                (key in _STEP_KEYS and node == sid) or pattern.search(node)):
            out.append(f"{where} ({_key_words(key)})")

    start = doc.get("start")
    if isinstance(start, dict) and start.get("step") == sid:
        out.append(_("the start (step)"))
    for other, node in _steps(doc).items():
        if other != sid:
            walk(node, _("step '{step}'", step=other), None)
    for key in doc:
        if key not in ("steps", "start", "id", "title", "description", "source", "roles"):
            walk(doc[key], str(key), None)
    return list(dict.fromkeys(out))


def rename_step(text: str, old: str, new: str) -> str:
    """Give step ``old`` the id ``new`` in its place, and update every reference: the start,
    other steps' next, on_reject, branches, join, separate_from, return_to, and ``old.FIELD``
    in conditions, deadlines, spawns and ledger, index and KPI declarations."""
    doc = _load(text)
    steps = _steps(doc)
    if old not in steps:
        raise EditError(_("there is no step '{step}'; known steps: {steps}", step=old, steps=", ".join(steps)))
    if not STEP_ID.match(new) or new in ("start", "instance"):
        raise EditError(_("'{new}' cannot be a step id: use lower_snake_case (a-z, 0-9, _), not start or instance", new=new))
    if new == old:
        return text
    if new in steps:
        raise EditError(_("the procedure already has a step '{step}'; choose another id", step=new))
    keys = list(steps)
    pos = keys.index(old)
    node = steps.pop(old)
    steps.insert(pos, new, node)
    start = doc.get("start")
    if isinstance(start, dict) and start.get("step") == old:
        start["step"] = new
    for sid in list(steps):
        _rewrite(steps[sid], old, new)
    for key in list(doc):
        if key not in ("steps", "start", "id", "title", "description", "source", "roles"):
            doc[key] = _rewrite(doc[key], old, new, str(key))
    return _dump(doc)


def delete_step(text: str, sid: str) -> str:
    """Remove step ``sid``. Steps that only led to it (a plain ``next: sid``) are led to where
    it led (when that was one plain step); any other reference is refused, named, so nothing
    is left pointing nowhere."""
    doc = _load(text)
    steps = _steps(doc)
    if sid not in steps:
        raise EditError(_("there is no step '{step}'; known steps: {steps}", step=sid, steps=", ".join(steps)))
    start = doc.get("start")
    if isinstance(start, dict) and start.get("step") == sid:
        raise EditError(_("'{step}' is the first step of the procedure; make another step the first "
                          "(start: step:) before deleting it", step=sid))
    onward = steps[sid].get("next")
    leading = [other for other, node in steps.items()
               if other != sid and isinstance(node, dict) and node.get("next") == sid]
    if leading and not isinstance(onward, str):
        raise EditError(_("steps {steps} lead to '{step}', which has no single next step to "
                          "lead them to instead; change where they go first", steps=", ".join(leading), step=sid))
    for other in leading:
        steps[other]["next"] = onward
    rest = [r for r in _references(doc, sid)
            if not any(r == _("step '{step}'", step=o) + f" ({_key_words('next')})" for o in leading)]
    if rest:
        raise EditError(_("'{step}' is still named by {places}; change those first", step=sid, places="; ".join(rest)))
    steps.pop(sid)
    return _dump(doc)


def update_step(text: str, step_id: str, *, title: Any = _UNSET, role: Any = _UNSET, form: Any = _UNSET,
                signature: Any = _UNSET, within: Any = _UNSET, remind_before: Any = _UNSET,
                escalate: Any = _UNSET) -> str:
    """Change some properties of an existing step (``set_step`` with the deadline's keys
    merged into the deadline it has). A value of None or "" removes the property (a deadline
    with nothing left goes too); properties not passed are left as they are."""
    changes = {k: v for k, v in (("title", title), ("role", role), ("form", form), ("signature", signature))
               if v is not _UNSET}
    if any(v is not _UNSET for v in (within, remind_before, escalate)):
        old = step_model(text, step_id).get("deadline")
        deadline = dict(old) if isinstance(old, dict) else {}
        for key, value in (("within", within), ("remind_before", remind_before), ("escalate", escalate)):
            if value is _UNSET:
                continue
            if _empty(value):
                deadline.pop(key, None)
            else:
                deadline[key] = value
        changes["deadline"] = deadline or None
    return set_step(text, step_id, changes)


# -- the visual model of a step ----------------------------------------------------------------

#: Where a key the step editor adds goes among the keys already there (the order of the docs).
STEP_ORDER = ("type", "title", "description", "instructions", "role", "approvers", "mode", "rejection",
              "if_nobody", "skip_repeated", "add_approver", "form", "prefill", "hide", "edit", "signature",
              "separate_from", "on_correction", "transfer", "return_to", "resume", "recall", "cc", "cc_add",
              "deadline", "next", "on_reject")
DEADLINE_ORDER = ("within", "within_expr", "due_expr", "calendar", "remind_before", "escalate")


def plain(node: Any) -> Any:
    """A ruamel node as plain Python (dict, list, str, int, float, bool, None)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def _step_node(doc: CommentedMap, step_id: str) -> CommentedMap:
    steps = _steps(doc)
    if step_id not in steps:
        raise EditError(_("there is no step '{step}'; known steps: {steps}", step=step_id, steps=", ".join(steps)))
    node = steps[step_id]
    if not isinstance(node, CommentedMap):
        raise EditError(_("step '{step}' is not a mapping; change it in the text editor", step=step_id))
    return node


def step_model(text: str, step_id: str) -> dict[str, Any]:
    """Step ``step_id`` as the step editor reads it: every key it has, as plain values."""
    model: dict[str, Any] = plain(_step_node(_load(text), step_id))
    return model


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _new_node(value: Any, key: str) -> Any:
    """A ruamel node for ``value``: lists of plain values and small mappings in flow style
    (``[a, b]``, ``{inspector: me}``) as the shipped files write them; a deadline, lists of
    mappings (conditions, escalation levels, approvers) in block style."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = _new_node(v, str(k))
        if key != "deadline" and all(_scalar(v) for v in value.values()):
            node.fa.set_flow_style()
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq()
        for item in value:
            sub = _new_node(item, "")
            if isinstance(sub, CommentedMap):
                sub.fa.set_block_style()
            seq.append(sub)
        if all(_scalar(v) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def _tail_slot(node: Any) -> tuple[Any, Any, int] | None:
    """Where the comment after the last line of ``node`` lives: (container, key, index in
    its comment entry); only block collections are entered (a flow one's comment sits on its key)."""
    if isinstance(node, CommentedMap) and node and not node.fa.flow_style():
        key = list(node)[-1]
        inner = _tail_slot(node[key])
        return inner if inner is not None else (node, key, 2)
    if isinstance(node, CommentedSeq) and node and not node.fa.flow_style():
        idx = len(node) - 1
        inner = _tail_slot(node[idx])
        return inner if inner is not None else (node, idx, 0)
    return None


def _take_tail(node: CommentedMap) -> Any:
    slot = _tail_slot(node)
    if slot is None:
        return None
    container, key, index = slot
    entry = container.ca.items.get(key)
    if not entry or len(entry) <= index or entry[index] is None:
        return None
    token = entry[index]
    entry[index] = None
    if all(e is None for e in entry):
        container.ca.items.pop(key, None)
    return token


def _give_tail(node: CommentedMap, token: Any) -> None:
    slot = _tail_slot(node)
    if token is None or slot is None:
        return
    container, key, index = slot
    entry = container.ca.items.setdefault(key, [None, None, None, None] if index == 2 else [None, None])
    entry[index] = token


def _assign(node: CommentedMap, key: str, value: Any, order: Sequence[str]) -> None:
    """Set ``node[key]`` to ``value`` touching nothing when it is equal already (formatting
    and comments kept), merging into an existing block mapping key by key; empty removes it."""
    if _empty(value):
        node.pop(key, None)
        return
    if key in node and plain(node[key]) == value:
        return
    old = node.get(key)
    if isinstance(old, CommentedMap) and isinstance(value, Mapping) and not old.fa.flow_style():
        for k in [k for k in old if k not in value]:
            del old[k]
        sub_order = DEADLINE_ORDER if key == "deadline" else tuple(value)
        for k, v in value.items():
            _assign(old, str(k), v, sub_order)
        return
    new = _new_node(value, key)
    if key in node:
        node[key] = new
        return
    rank = order.index(key) if key in order else len(order)
    keys = list(node)
    pos = next((i for i, k in enumerate(keys) if k in order and order.index(k) > rank), len(keys))
    node.insert(pos, key, new)


def set_step(text: str, step_id: str, changes: Mapping[str, Any]) -> str:
    """Step ``step_id`` with the keys of ``changes`` set (an empty value removes the key),
    every other key, the comments and the blank line after the step kept. A key whose value
    is unchanged is not rewritten, so the model read by ``step_model`` writes back the same text."""
    doc = _load(text)
    node = _step_node(doc, step_id)
    if "title" in changes and _empty(changes["title"]):
        raise EditError(_("step '{step}' needs a title", step=step_id))
    if "type" in changes and changes["type"] not in (None, "", "task") and changes["type"] not in STEP_TYPES:
        raise EditError(_("unknown step type '{type}'; choose one of {types}", type=changes["type"],
                          types=", ".join(STEP_TYPES)))
    if all(k in node and plain(node[k]) == v or k not in node and _empty(v) for k, v in changes.items()):
        return text
    tail = _take_tail(node)
    for key, value in changes.items():
        if key == "type" and value == "task":
            node.pop("type", None)  # task is the default: not written
            continue
        _assign(node, key, value, STEP_ORDER)
    deadline = node.get("deadline")
    if isinstance(deadline, dict) and not any(k in deadline for k in ("within", "within_expr", "due_expr")):
        raise EditError(_("a reminder or escalation of step '{step}' needs a deadline: give 'within' or a "
                          "due date", step=step_id))
    _give_tail(node, tail)
    return _dump(doc)
