"""Checking a form file: every problem at the line and column the author wrote, with a fix.

The file format is described in ``docs/forms.md``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from engine.errors import ExpressionError, Problem
from engine.i18n import N_, _
from engine.language import yaml_source as yamlsrc
from engine.language.english import check_form
from engine.language.expr_types import check_types, form_kinds, result_kind
from engine.language.expressions import check_names, compile_expr, text_without_quotes
from engine.language.forms.computed import Computed, order
from engine.language.forms.formats import FORMAT_CHECKER
from engine.language.forms.messages import fmt_value
from engine.language.forms.model import Form
from engine.language.forms.schema import (
    COMPOSITION,
    DIALECT,
    FORMAT_WIDGETS,
    HINTS,
    JSON_TYPES,
    NO_FETCH,
    NUMBER_BOUNDS,
    ONE_SCHEMA,
    REF_KEYWORDS,
    SCAN_KINDS,
    SCHEMA_KEYWORDS,
    SCHEMA_LISTS,
    SCHEMA_MAPS,
    TOP_KEYS,
    WIDGET_TYPES,
    WIDGETS,
    Schema,
    default_widget,
    has_enum,
    is_number,
    ref_loops,
    ref_target,
    single_type,
)
from engine.language.forms.visibility import Expressions
from engine.language.suggest import suggest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from jsonschema.exceptions import ValidationError

    from engine.language.expressions import Expr
    from engine.language.yaml_source import Path, Source

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


#: The formats the server checks, in the order messages list them, and what each date widget posts.
FORMATS = tuple(FORMAT_CHECKER.checkers)
WIDGET_FORMATS = {widget: fmt for fmt, widget in FORMAT_WIDGETS.items()}


def _did_you_mean(word: str, choices: Iterable[object], otherwise: str = "") -> str:
    """The end of a message about an unknown ``word``: the close choice, or ``otherwise``."""
    close = suggest(word, choices)
    return _("; did you mean {guess}?", guess=close) if close else otherwise


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
                    _("unknown key '{key}' in a form file", key=key)
                    + _did_you_mean(key, TOP_KEYS, _("; the keys are {keys}", keys=", ".join(TOP_KEYS))),
                    key=True,
                )
            )

    stem = _file_stem(src.file)
    form_id = data.get("id")
    if "id" not in data:
        hint = f"id: {stem}" if stem else "id: my-form"
        problems.append(
            src.problem((), _("missing 'id'; add `{hint}` (the file name without .yaml)", hint=hint))
        )
        usable = False
    elif not isinstance(form_id, str) or not _ID_RE.match(form_id):
        problems.append(
            src.problem(
                ("id",), _("id {id} must be kebab-case (lower-case words joined by '-')", id=repr(form_id))
            )
        )
        usable = False
    elif stem is not None and form_id != stem:
        problems.append(
            src.problem(
                ("id",),
                _("id '{id}' does not match the file name '{stem}.yaml'; "
                  "write `id: {stem}` or rename the file to {id}.yaml", id=form_id, stem=stem),
            )
        )

    title = data.get("title")
    if "title" not in data:
        problems.append(
            src.problem((), _("missing 'title'; add `title: ...`, the heading people see"))
        )
        usable = False
    elif not isinstance(title, str) or not title.strip():
        problems.append(src.problem(("title",), _("title must be non-empty text")))
        usable = False

    description = data.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        problems.append(src.problem(("description",), _("description must be text")))
        description = ""

    schema = data.get("schema")
    exprs: Expressions = {}
    computed: dict[str, Computed] = {}
    if "schema" not in data:
        problems.append(
            src.problem((), _("missing 'schema'; add `schema:` with `type: object` and `properties`"))
        )
        usable = False
    elif not isinstance(schema, dict):
        problems.append(
            src.problem(
                ("schema",), _("schema must be a mapping with `type: object` and `properties`")
            )
        )
        usable = False
    else:
        if schema.get("type") != "object":
            where = ("schema", "type") if "type" in schema else ("schema",)
            problems.append(
                src.problem(
                    where, _("the schema of a form must have `type: object`"), key="type" not in schema
                )
            )
            usable = False
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            where = ("schema", "properties") if "properties" in schema else ("schema",)
            problems.append(
                src.problem(
                    where,
                    _("the schema of a form must have `properties`, a mapping of field name → field schema"),
                    key="properties" not in schema,
                )
            )
            usable = False
        if not checker.metaschema(schema):
            usable = False
        checker.root = schema
        checker.walk(schema, ("schema",), in_properties=False)
        checker.fields(schema, ("schema",), exprs)
        computed = _check_computed(checker, schema)

    # `usable` already says so; the types say it again for the checker.
    if not usable or not (
        isinstance(form_id, str) and isinstance(title, str) and isinstance(schema, dict)
    ):
        return None, problems
    english = None
    if "en" in data:
        english = check_form(data["en"], schema,
                             lambda path, message, key=False: problems.append(src.problem(path, message, key=key)))
    form = Form(form_id, title, description, schema, src.file, exprs, computed, english)
    return form, problems


def _file_stem(file: str) -> str | None:
    base = os.path.basename(file)
    for ext in (".yaml", ".yml"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return None


_META = Draft202012Validator(Draft202012Validator.META_SCHEMA, registry=NO_FETCH)

_META_TYPE_WORDS = {
    "array": N_("a list"),
    "object": N_("a mapping"),
    "number": N_("a number"),
    "integer": N_("a whole number"),
    "string": N_("text"),
    "boolean": N_("true or false"),
}


def _type_words(name: str) -> str:
    words = _META_TYPE_WORDS.get(name)
    return _(words) if words else name


class _Checker:
    """The checks of a form's schema, each problem located in the YAML source."""

    def __init__(self, src: Source, problems: list[Problem]) -> None:
        self.src = src
        self.problems = problems
        self.root: Schema = {}  # the form's schema, which its $refs point into

    def add(self, path: Path, text: str, *, key: bool = False) -> None:
        self.problems.append(self.src.problem(path, text, key=key))

    # JSON Schema validity -------------------------------------------------------

    def metaschema(self, schema: Schema) -> bool:
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
                _("unknown type '{type}'; use one of {types}", type=error.instance, types=", ".join(JSON_TYPES))
                + _did_you_mean(error.instance, JSON_TYPES)
            )
        if error.validator == "type":
            want = error.validator_value
            if isinstance(want, str):
                words = _type_words(want)
            elif isinstance(want, list):
                words = _(" or ").join(_type_words(str(w)) for w in want)
            else:
                words = str(want)
            return _("invalid JSON Schema: `{keyword}` must be {words}, not {value}",
                     keyword=keyword, words=words, value=repr(error.instance))
        if error.validator == "minimum":
            return _("invalid JSON Schema: `{keyword}` must be at least {n}", keyword=keyword, n=error.validator_value)
        # jsonschema's own words (English) stay as it wrote them.
        return _("invalid JSON Schema at `{keyword}`: {detail}", keyword=keyword or "schema", detail=error.message)

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
                        _("unknown hint '{key}'", key=key)
                        + _did_you_mean(key, HINTS, _("; the hints are {hints}", hints=", ".join(HINTS))),
                        key=True,
                    )
                elif key == "x-compute" and path[-3:-1] != ("schema", "properties"):
                    self.add(
                        (*path, key),
                        _("x-compute works on a field of the form's top level (under schema: "
                          "properties:), not inside a group or a table row; compute a row's values "
                          "into one top-level field with sum_of(), weighted_sum(), avg_of() or count_if()"),
                        key=True,
                    )
                elif key == "x-visible-if" and not in_properties:
                    self.add(
                        (*path, key),
                        _("x-visible-if only works on a field listed under `properties`"),
                        key=True,
                    )
            elif key not in SCHEMA_KEYWORDS:
                self.add(
                    (*path, key),
                    _("unknown schema keyword '{key}'", key=key)
                    + _did_you_mean(key, SCHEMA_KEYWORDS, _("; presentation hints start with x-")),
                    key=True,
                )
        self.refs(schema, path)
        for keyword in NUMBER_BOUNDS:
            bound = schema.get(keyword)
            # YAML's .nan and .inf are floats the metaschema takes as numbers, yet a bound of
            # .nan lets every value through and one of .inf refuses every value.
            if isinstance(bound, float) and not math.isfinite(bound):
                self.add((*path, keyword), _("{keyword} must be a finite number, not {value}; write a "
                                             "number such as 0 or 9.8, or remove {keyword}",
                                             keyword=keyword, value=repr(bound)))
        props, req = schema.get("properties"), schema.get("required")
        if (
            isinstance(props, dict)
            and isinstance(req, list)
            and not any(k in schema for k in COMPOSITION)
        ):
            for i, name in enumerate(req):
                if isinstance(name, str) and name not in props:
                    self.add(
                        (*path, "required", i),
                        _("required field '{name}' is not declared under properties", name=name)
                        + _did_you_mean(name, props),
                    )
        for key in SCHEMA_MAPS:
            subs = schema.get(key)
            if isinstance(subs, dict):
                for name, sub in subs.items():
                    self.walk(sub, (*path, key, name), in_properties=key == "properties")
        for key in SCHEMA_LISTS:
            subs = schema.get(key)
            if isinstance(subs, list):
                for i, sub in enumerate(subs):
                    self.walk(sub, (*path, key, i), in_properties=False)
        for key in ONE_SCHEMA:
            self.walk(schema.get(key), (*path, key), in_properties=False)
        self.hints(schema, path)

    def refs(self, schema: Schema, path: Path) -> None:
        """``$ref``, ``$dynamicRef``, ``$id`` and ``$schema``: a form refers only to itself,
        so a submission is never checked against anything fetched from elsewhere."""
        for keyword in REF_KEYWORDS:
            ref = schema.get(keyword)
            if not isinstance(ref, str):
                continue  # the metaschema check says so
            where = (*path, keyword)
            if not ref.startswith("#"):
                self.add(where, _("`{keyword}: {ref}` points outside this form; a form may only refer to "
                                  "its own definitions: put the shared schema under `$defs:` in this file "
                                  "and write `{keyword}: '#/$defs/NAME'`", keyword=keyword, ref=ref))
                continue
            target = ref_target(self.root, ref)
            if not isinstance(target, dict | bool):
                defs = self.root.get("$defs")
                names = [f"#/$defs/{n}" for n in defs] if isinstance(defs, dict) else []
                self.add(where, _("`{keyword}: {ref}` refers to no schema of this form; define it under "
                                  "`$defs:` or correct the path", keyword=keyword, ref=ref)
                         + _did_you_mean(ref, names))
            elif ref_loops(self.root, schema, ref):
                self.add(where, _("`{keyword}: {ref}` leads back to itself, so checking a submission would "
                                  "never end; remove the loop (a schema may contain itself only below a "
                                  "field or an item, e.g. under `properties` or `items`)",
                                  keyword=keyword, ref=ref))
        if "$id" in schema:
            self.add((*path, "$id"), _("`$id` is not allowed in a form: it makes `$ref` point to other "
                                       "documents; remove it"), key=True)
        if "$schema" in schema and (path != ("schema",) or schema["$schema"] != DIALECT):
            self.add((*path, "$schema"), _("`$schema` may only name JSON Schema 2020-12 ({dialect}), at the top "
                                           "of the schema; remove it", dialect=DIALECT), key=True)

    def hints(self, schema: Schema, path: Path) -> None:
        t = single_type(schema)
        widget = schema.get("x-widget")
        if "x-widget" in schema:
            if not isinstance(widget, str) or widget not in WIDGETS:
                shown = widget if isinstance(widget, str) else repr(widget)
                self.add(
                    (*path, "x-widget"),
                    _("unknown widget '{widget}'; use one of {widgets}", widget=shown, widgets=", ".join(WIDGETS))
                    + _did_you_mean(shown, WIDGETS),
                )
                widget = None
            else:
                allowed = WIDGET_TYPES[widget]
                if allowed is not None and t is not None and t not in allowed:
                    self.add(
                        (*path, "x-widget"),
                        _("x-widget: {widget} does not fit a field of type {type}; "
                          "use it with type {types}, or choose another widget",
                          widget=widget, type=t, types=_(" or ").join(allowed)),
                    )
                if widget == "checkbox" and t == "boolean" and schema.get("const") is not True:
                    self.add(
                        (*path, "x-widget"),
                        _("x-widget: checkbox on a yes/no field cannot tell \"no\" from \"not answered\"; "
                          "remove x-widget (the field shows 是 / 否), or add `const: true` for a box "
                          "that must be ticked"),
                    )
                if widget in ("radio", "select") and not has_enum(schema):
                    self.add(
                        (*path, "x-widget"),
                        _("x-widget: {widget} needs the options: add `enum: [...]` under `items`", widget=widget)
                        if t == "array" else
                        _("x-widget: {widget} needs the options: add `enum: [...]`", widget=widget),
                    )
        effective = widget or default_widget(schema)
        self._format(schema, path, widget)
        if "default" in schema:
            self._default(schema, path, t)
        if "x-limits" in schema:
            self._limits(schema, path, t)
        if "x-unit" in schema:
            unit = schema["x-unit"]
            if not isinstance(unit, str | int | float) or isinstance(unit, bool):
                self.add((*path, "x-unit"), _("x-unit must be text such as mm, V or ℃"))
            elif t not in ("number", "integer", None):
                self.add(
                    (*path, "x-unit"), _("x-unit belongs on number fields, not on type {type}", type=t), key=True
                )
        if "x-placeholder" in schema and not isinstance(schema["x-placeholder"], str):
            self.add((*path, "x-placeholder"), _("x-placeholder must be text"))
        if "x-sensitive" in schema and not isinstance(schema["x-sensitive"], bool):
            self.add((*path, "x-sensitive"), _("x-sensitive must be true or false"))
        if "x-accept" in schema:
            acc = schema["x-accept"]
            if not isinstance(acc, list) or not all(
                isinstance(a, str) and ("/" in a or a.startswith(".")) for a in acc
            ):
                self.add(
                    (*path, "x-accept"),
                    _("x-accept must be a list of content types or extensions, e.g. [image/png, .pdf]"),
                )
            elif effective != "file":
                self.add((*path, "x-accept"), _("x-accept only applies to `x-widget: file`"), key=True)
        if "x-max-size" in schema:
            size = schema["x-max-size"]
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                self.add(
                    (*path, "x-max-size"),
                    _("x-max-size must be a positive number of bytes, e.g. 10485760"),
                )
            elif effective != "file":
                self.add(
                    (*path, "x-max-size"), _("x-max-size only applies to `x-widget: file`"), key=True
                )
        if "x-meaning" in schema:
            if not isinstance(schema["x-meaning"], str) or not schema["x-meaning"].strip():
                self.add((*path, "x-meaning"), _("x-meaning must be text such as 审核 or 批准"))
            elif effective != "signature":
                self.add(
                    (*path, "x-meaning"),
                    _("x-meaning only applies to `x-widget: signature`"),
                    key=True,
                )

        if "x-scan" in schema:
            kind = schema["x-scan"]
            if not isinstance(kind, str) or kind not in SCAN_KINDS:
                shown = kind if isinstance(kind, str) else repr(kind)
                self.add(
                    (*path, "x-scan"),
                    _("x-scan: unknown code '{code}'; use one of {codes} "
                      "(qr: QR codes, barcode: 1D barcodes such as EAN-13 or Code 128, any: both)",
                      code=shown, codes=", ".join(SCAN_KINDS)),
                )
            elif t != "string" or effective not in ("text", "textarea"):
                self.add(
                    (*path, "x-scan"),
                    _("x-scan fills a text field (type: string, widget text or textarea), not widget {widget}",
                      widget=effective) if t == "string" else
                    _("x-scan fills a text field (type: string, widget text or textarea), not type {type}", type=t)
                    if t else _("x-scan fills a text field (type: string, widget text or textarea), not type unset"),
                    key=True,
                )

    def _format(self, schema: Schema, path: Path, widget: str | None) -> None:
        """Only the formats the server checks; a date widget that stores what the format refuses."""
        if "format" not in schema:
            return
        fmt = schema["format"]
        if not isinstance(fmt, str) or fmt not in FORMATS:
            # JSON Schema ignores a format it does not know: the field would take any text.
            shown = fmt if isinstance(fmt, str) else repr(fmt)
            self.add((*path, "format"), _("unknown format '{format}'; use one of {formats} (any other is not "
                                          "checked, so the field would take any text)",
                                          format=shown, formats=", ".join(FORMATS))
                     + _did_you_mean(shown, FORMATS))
        elif widget in WIDGET_FORMATS and fmt in WIDGET_FORMATS.values() and WIDGET_FORMATS[widget] != fmt:
            # A datetime picker posts 2026-11-02T09:00, which format: date refuses: nobody could submit.
            self.add((*path, "x-widget"), _("x-widget: {widget} stores what format: {format} refuses, so the form "
                                            "could never be sent; use x-widget: {fits} (or format: {other})",
                                            widget=widget, format=fmt, fits=FORMAT_WIDGETS[fmt],
                                            other=WIDGET_FORMATS[widget]))

    def _default(self, schema: Schema, path: Path, t: str | None) -> None:
        """A default the field refuses is shown preselected, then refused on submission."""
        value = schema["default"]
        enum = schema.get("enum")
        if isinstance(enum, list) and value not in enum:
            self.add((*path, "default"), _("default {value} is not one of the choices: {choices}",
                                           value=fmt_value(value), choices=", ".join(map(fmt_value, enum)))
                     + _did_you_mean(str(value), [str(e) for e in enum]))
            return
        fits = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool)}.get(t or "")
        if fits is not None and not fits(value):
            self.add((*path, "default"), _("default {value} does not fit a field of type {type}",
                                           value=fmt_value(value), type=t))

    def _limits(self, schema: Schema, path: Path, t: str | None) -> None:
        lim = schema["x-limits"]
        where = (*path, "x-limits")
        if t not in ("number", "integer"):
            self.add(
                where,
                _("x-limits needs a number field (type: number or integer), not type {type}", type=t) if t
                else _("x-limits needs a number field (type: number or integer), not type unset"),
                key=True,
            )
            return
        if not isinstance(lim, dict) or not lim:
            self.add(
                where, _("x-limits must be a mapping {min: N, max: N}, e.g. {min: 9.8, max: 10.2}")
            )
            return
        for key in lim:
            if key not in ("min", "max"):
                self.add(
                    (*where, key),
                    _("unknown key '{key}' in x-limits; use min and max", key=key)
                    + _did_you_mean(str(key), ("min", "max")),
                    key=True,
                )
        bad = False
        for key in ("min", "max"):
            if key in lim and not is_number(lim[key]):
                self.add((*where, key), _("x-limits {key} must be a number, not {value}", key=key, value=repr(lim[key])))
                bad = True
        lo, hi = lim.get("min"), lim.get("max")
        if not bad and lo is not None and hi is not None and lo > hi:
            self.add(
                (*where, "min"),
                _("x-limits min {low} is above max {high}; swap them", low=fmt_value(lo), high=fmt_value(hi)),
            )

    # x-visible-if ---------------------------------------------------------------

    def fields(self, schema: object, path: Path, exprs: Expressions) -> None:
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
                    expr = self._visible_if(sub["x-visible-if"], (*fpath, "x-visible-if"), siblings, schema)
                    if expr is not None:
                        exprs[_data_path(fpath)] = expr
                self.fields(sub, fpath, exprs)
        items = schema.get("items")
        if isinstance(items, dict):
            self.fields(items, (*path, "items"), exprs)

    def _visible_if(self, text: object, where: Path, siblings: set[str], parent: Schema) -> Expr | None:
        if not isinstance(text, str) or not text.strip():
            self.add(
                where,
                _('x-visible-if must be an expression over fields of the form, e.g. verdict == "不合格"'),
            )
            return None
        try:
            expr = compile_expr(text)
        except ExpressionError as exc:
            offset = getattr(exc, "offset", None)
            at = _(" (at character {n})", n=offset + 1) if isinstance(offset, int) else ""
            self.add(where, _("x-visible-if: {problem}", problem=exc.message + at))
            return None
        for name, _text in check_names(expr, siblings):
            if (unquoted := text_without_quotes(name)):
                self.add(where, _("x-visible-if: {problem}", problem=unquoted))
                continue
            # check_names speaks of steps; here the names are fields of the same object.
            known = _("; the fields here are {fields}", fields=", ".join(sorted(siblings))) if siblings else ""
            self.add(where, _("x-visible-if: unknown field '{name}'", name=name) + _did_you_mean(name, siblings, known))
        if not check_names(expr, siblings):
            # Types and choices too: a condition that can never be true hides its field for
            # good, one that fails keeps it without requiring it (see visibility._visible).
            kinds = {path[1:]: replace(k, name=path[1:]) for path, k in form_kinds(parent, "").items()}
            for _offset, message in check_types(text, kinds):
                self.add(where, _("x-visible-if: {problem}", problem=message))
        return expr


_COMPUTE_TYPES = {"number": ("number",), "integer": ("number",), "string": ("text", "date", "datetime"),
                  "boolean": ("boolean",)}


_KIND_TEXTS = {"number": N_("a number"), "text": N_("text"), "boolean": N_("a yes/no value"),
               "list": N_("a list"), "object": N_("a group of fields"), "date": N_("a date"),
               "datetime": N_("a date-time"),
               "duration": N_("a duration (write days_between(a, b) for a number of days)"),
               "none": N_("none")}


def _kind_text(kind: str) -> str:
    words = _KIND_TEXTS.get(kind)
    return _(words) if words else kind


def _check_computed(self: _Checker, schema: Schema) -> dict[str, Computed]:
    """Compile every top-level ``x-compute``: names (own fields, or dotted names of earlier
    steps, checked where a procedure uses the form), cycles and the result's type against
    the field's declared type."""
    props = schema.get("properties")
    out: dict[str, Computed] = {}
    if not isinstance(props, dict):
        return out
    fields = _dotted_paths(props, exclude="")
    kinds = {path[1:]: replace(k, name=path[1:]) for path, k in form_kinds(schema, "").items()}
    wheres: dict[str, Path] = {}
    for name, sub in props.items():
        if not isinstance(sub, dict) or "x-compute" not in sub:
            continue
        where = ("schema", "properties", name, "x-compute")
        text = sub["x-compute"]
        if not isinstance(text, str) or not text.strip():
            self.add(where, _('x-compute must be an expression over fields of the form, e.g. '
                              'sum_of(lines, "amount")'))
            continue
        t = single_type(sub)
        if t not in _COMPUTE_TYPES:
            self.add(where, _("a computed field stores a number, text or yes/no value; give '{name}' "
                              "`type: number` (or integer, string, boolean)", name=name), key=True)
            continue
        try:
            expr = compile_expr(text)
        except ExpressionError as exc:
            offset = getattr(exc, "offset", None)
            at = _(" (at character {n})", n=offset + 1) if isinstance(offset, int) else ""
            self.add(where, _("x-compute: {problem}", problem=exc.message + at))
            continue
        reads: set[str] = set()
        external: set[str] = set()
        bad = False
        for ref in sorted(expr.names):
            root = ref.split(".", 1)[0]
            if root in props:
                reads.add(root)
                for _n, _message in check_names(compile_expr(ref), fields):
                    self.add(where, _("x-compute: unknown field '{name}'", name=ref)
                             + _did_you_mean(ref, fields, _("; the fields here are {fields}",
                                                            fields=", ".join(sorted(fields)))))
                    bad = True
            elif "." in ref:
                external.add(ref)
            elif (unquoted := text_without_quotes(ref)):
                self.add(where, _("x-compute: {problem}", problem=unquoted))
                bad = True
            else:
                self.add(where, _("x-compute: unknown field '{name}'", name=ref)
                         + _did_you_mean(ref, fields, _("; the fields here are {fields}", fields=", ".join(sorted(fields))))
                         + _("; an earlier step's field is written STEP.FIELD"))
                bad = True
        if bad:
            continue
        result, problems = result_kind(text, kinds)
        for _offset, message in problems:
            self.add(where, _("x-compute: {problem}", problem=message))
        if not problems and result.kind is not None and result.kind not in _COMPUTE_TYPES[t]:
            fix = {"number": "number", "text": "string", "boolean": "boolean", "date": "string",
                   "datetime": "string"}.get(result.kind)
            if fix:
                self.add(where, _("x-compute gives {kind}, but '{name}' is of type {type}; make the field `type: {fix}`",
                                  kind=_kind_text(result.kind), name=name, type=t, fix=fix))
            else:
                self.add(where, _("x-compute gives {kind}, but '{name}' is of type {type}",
                                  kind=_kind_text(result.kind), name=name, type=t))
            continue
        wheres[name] = where
        out[name] = Computed(name, expr, t, frozenset(reads), frozenset(external))
    _ordered, cycle = order(out)
    if cycle:
        first = cycle[0]
        self.add(wheres[first], _("x-compute: computed fields read each other in a cycle ({names}); "
                                  "one of them must be entered, not computed", names=" → ".join(cycle)))
        for name in cycle:
            out.pop(name, None)
    return out


def _dotted_paths(props: Schema, exclude: str) -> set[str]:
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
