"""Checking a submission against its form: the errors operators see, field by field.

The schema is rewritten once per form for validation (hints stripped, undeclared fields
forbidden, conditional fields taken out of ``required``) and compiled into one
``Draft202012Validator``; jsonschema alone decides which errors there are, and each is
explained in the operator's language. A quick check answers first for valid data.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, validators
from referencing.exceptions import Unresolvable

from engine.errors import FieldError
from engine.language.forms import visibility
from engine.language.forms.formats import FORMAT_CHECKER
from engine.language.forms.messages import fmt_value, join_options, message
from engine.language.forms.quick_check import quick_checker
from engine.language.forms.schema import (
    COMPOSITION,
    JSON_TYPES,
    NO_FETCH,
    ONE_SCHEMA,
    SCHEMA_LISTS,
    SCHEMA_MAPS,
    DataPath,
    Schema,
    sort_key,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from jsonschema import TypeChecker
    from jsonschema.exceptions import ValidationError

def _finite_number(checker: TypeChecker, instance: Any) -> bool:
    return Draft202012Validator.TYPE_CHECKER.is_type(instance, "number") and (
        not isinstance(instance, float) or math.isfinite(instance))


# NaN and infinity are floats, so JSON Schema's "number" takes them (and minimum/maximum, which
# compare, let NaN through); Python's JSON reader makes them of NaN and Infinity, and float()
# of a page's "nan" or "1e999". No record can hold them: JSON has no such numbers, and a NaN
# would poison every sum and average over the field.
_Validator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number))

_TYPE_KEYS = frozenset(f"type.{t}" for t in JSON_TYPES)
_FORMAT_KEYS = frozenset(("format.date", "format.date-time", "format.time", "format.email"))


class SubmissionValidator:
    """The compiled checks of one form's submissions."""

    __slots__ = ("validator", "quick", "_vis", "_order", "_widgets")

    def __init__(
        self,
        schema: Schema,
        vis: visibility.VisNode | None,
        order: dict[str, int],
        widgets: dict[str, str],
    ) -> None:
        checked = validation_schema(schema)
        self.validator = _Validator(checked, format_checker=FORMAT_CHECKER, registry=NO_FETCH)
        self.quick = quick_checker(checked)
        self._vis = vis
        self._order = order
        self._widgets = widgets

    def validate(self, data: visibility.Data, locale: str = "zh") -> list[FieldError]:
        """See :meth:`engine.language.forms.Form.validate`."""
        return self.check(data, locale)[0]

    def check(self, data: visibility.Data, locale: str = "zh") -> tuple[list[FieldError], visibility.Data]:
        """The problems of a submission and the data to store (without the fields that
        ``x-visible-if`` hides): the visibility pass that validation needs is the one that
        cleans, so a submission is walked once (see :meth:`engine.language.forms.Form.check`)."""
        if not isinstance(data, dict):
            return [{"field": "", "message": message("not_object", locale)}], data
        missing: list[DataPath] = []
        if self._vis is not None:
            data = visibility.clean_object(self._vis, data, (), missing)
        if not missing and self.quick is not None and self.quick(data):
            return [], data
        try:
            # Listed at once: a reference the form check would refuse today (a stored form
            # older than that check) is unresolved, never fetched, and said so here.
            errors: list[ValidationError] = list(self.validator.iter_errors(data))
        except Unresolvable as exc:
            ref = str(getattr(exc, "ref", "") or exc)
            ref = "#" + ref if ref.startswith("/") else ref
            return [{"field": "", "message": message("unresolvable", locale, ref=ref)}], data
        if not missing and not errors:
            return [], data
        out: list[tuple[tuple[int, ...], FieldError]] = []
        seen: set[tuple[str, str]] = set()

        def add(path: DataPath, text: str) -> None:
            field = ".".join(str(p) for p in path)
            if (field, text) not in seen:
                seen.add((field, text))
                out.append((sort_key(self._order, path), {"field": field, "message": text}))

        for path in missing:
            add(path, message("required", locale))
        for error in errors:
            for path, text in self._explain(error, locale):
                add(path, text)
        out.sort(key=lambda pair: pair[0])
        return [entry for _, entry in out], data

    def _widget_at(self, path: Iterable[str | int]) -> str:
        return self._widgets.get(".".join(p for p in path if isinstance(p, str)), "")

    def _explain(self, error: ValidationError, locale: str) -> Iterator[tuple[DataPath, str]]:
        path = tuple(error.absolute_path)
        kind = error.validator if isinstance(error.validator, str) else ""
        value = error.validator_value
        instance = error.instance
        if kind == "required":
            if isinstance(instance, dict) and isinstance(value, list):
                for name in value:
                    if name not in instance:
                        yield (*path, name), message("required", locale)
            return
        if kind == "dependentRequired":
            if isinstance(instance, dict) and isinstance(value, dict):
                for names in value.values():
                    for name in names:
                        if name not in instance:
                            yield (*path, name), message("required", locale)
            return
        if kind in ("additionalProperties", "unevaluatedProperties"):
            schema = error.schema if isinstance(error.schema, Mapping) else {}
            declared = _declared_properties(schema)
            patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
            if isinstance(instance, dict):
                for name in instance:
                    if name not in declared and not any(p.search(name) for p in patterns):
                        yield (*path, name), message("unknown", locale)
            return
        yield path, self._message_for(kind, value, instance, path, locale)

    def _message_for(
        self, kind: str, value: Any, instance: Any, path: DataPath, locale: str
    ) -> str:
        if kind == "enum":
            return message("enum", locale, options=join_options(value, locale))
        if kind == "const":
            if value is True:
                return message("const.tick", locale)
            return message("const", locale, value=fmt_value(value))
        if kind == "type":
            if isinstance(instance, float) and not math.isfinite(instance):
                return message("type.finite", locale)
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


def _declared_properties(schema: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    stack: list[object] = [schema]
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


def validation_schema(schema: Schema) -> Schema:
    """The schema actually validated: hints stripped, undeclared properties forbidden and
    fields with ``x-visible-if`` or ``x-compute`` taken out of ``required`` (their required check is done
    after visibility is known)."""
    schema = copy.deepcopy(schema)
    _prepare(schema)
    return schema


# The bounds of a typed text and of a table or list that declare none: a submission, its
# events and every page of its record carry each value whole, and one request may hold 10 MB.
# A form raises them with its own maxLength / maxItems.
TEXT_MAX = 10_000
ITEMS_MAX = 1_000


def _prepare(schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    for key in [k for k in schema if isinstance(k, str) and k.startswith("x-")]:
        del schema[key]
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    if "string" in types and not any(k in schema for k in ("maxLength", "enum", "const")):
        schema["maxLength"] = TEXT_MAX
    if "array" in types and "maxItems" not in schema:
        schema["maxItems"] = ITEMS_MAX
    props = schema.get("properties")
    if isinstance(props, dict):
        # Computed fields are worked out by the server: never required from the operator.
        conditional = {n for n, s in props.items()
                       if isinstance(s, dict) and ("x-visible-if" in s or "x-compute" in s)}
        req = schema.get("required")
        if conditional and isinstance(req, list):
            schema["required"] = [r for r in req if r not in conditional]
        if not any(
            k in schema
            for k in ("additionalProperties", "unevaluatedProperties", "patternProperties")
        ):
            if any(k in schema for k in COMPOSITION):
                schema["unevaluatedProperties"] = False
            else:
                schema["additionalProperties"] = False
    for key in SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for sub in schema[key].values():
                _prepare(sub)
    for key in SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for sub in schema[key]:
                _prepare(sub)
    for key in ONE_SCHEMA:
        _prepare(schema.get(key))
