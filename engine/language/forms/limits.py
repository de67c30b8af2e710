"""``x-limits``: numbers outside their specification, flagged for people, never refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from engine.language.forms.messages import fmt_value, message
from engine.language.forms.schema import DataPath, sort_key

if TYPE_CHECKING:
    from collections.abc import Iterator

# A schema path (``"*"`` for every index of an array), its min and max, and its unit.
Limit = tuple[tuple[str, ...], float | None, float | None, str]


class LimitFlag(TypedDict):
    """A number outside its ``x-limits``: where, what people read, the value and the limits."""

    field: str
    message: str
    value: float
    min: float | None
    max: float | None


def out_of_limits(
    limits: list[Limit], order: dict[str, int], data: dict[str, Any], locale: str = "zh"
) -> list[LimitFlag]:
    """See :meth:`engine.language.forms.Form.out_of_limits`."""
    found: list[LimitFlag] = []
    if not limits or not isinstance(data, dict):
        return found
    for pattern, lo, hi, unit in limits:
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
    found.sort(key=lambda f: sort_key(order, tuple(_split_path(f["field"]))))
    return found


def _split_path(dotted: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in dotted.split(".")] if dotted else []


def _values_at(
    data: Any, pattern: tuple[str, ...], prefix: DataPath
) -> Iterator[tuple[DataPath, Any]]:
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
