"""A quick "surely valid" answer for submissions, before jsonschema is asked for the errors.

jsonschema spends ~5 µs setting up every subschema it descends into, which puts a form
with a table well over 50 µs. Most submissions are valid, so a form whose schema uses
only the common keywords also gets a plain-Python checker that answers "surely valid"
(True) or "look closer" (False); only on False does jsonschema run, and it alone decides
which errors there are. The quick checker may therefore say False too often, never True
wrongly (tests/language/test_forms.py tries to make it).

It stays beside jsonschema because it pays: on the after-sales forms a valid submission
costs about 5 µs here against 56 µs or more through jsonschema alone, and
bench/engine_bench.py with validation drops from about 3,100 to 1,300 instances/s without
it. jsonschema-rs would be as fast, but it takes tuples for arrays and Decimals for
integers, which jsonschema refuses, so it could say True wrongly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from engine.language.forms.formats import FORMAT_CHECKER
from engine.language.forms.schema import Schema

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


def quick_checker(schema: Any) -> Callable[[Any], bool] | None:
    """A plain-Python "surely valid" test for ``schema`` (already prepared for validation),
    or ``None`` when the schema uses a keyword it does not know."""
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
    return isinstance(x, int) and not isinstance(x, bool) or isinstance(x, float) and math.isfinite(x)


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
            checks.append(tests[0] if len(tests) == 1 else _any_of(tests))
        elif key == "enum":
            if all(isinstance(v, str) for v in value):
                checks.append(_one_of(frozenset(value)))
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
            checks.append(_matches(re.compile(value)))
        elif key == "format":
            checks.append(_conforms(value))
        elif key == "items":
            checks.append(_every_item(_fast(value)))
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


def _any_of(tests: tuple[Callable[[Any], bool], ...]) -> Callable[[Any], bool]:
    return lambda x: any(f(x) for f in tests)


def _one_of(options: frozenset[str]) -> Callable[[Any], bool]:
    return lambda x: isinstance(x, str) and x in options


def _matches(rx: re.Pattern[str]) -> Callable[[Any], bool]:
    return lambda x: not isinstance(x, str) or rx.search(x) is not None


def _conforms(fmt: str) -> Callable[[Any], bool]:
    return lambda x: not isinstance(x, str) or FORMAT_CHECKER.conforms(x, fmt)


def _every_item(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda x: not isinstance(x, list) or all(check(i) for i in x)


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


def _object_check(schema: Schema) -> Callable[[Any], bool]:
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
