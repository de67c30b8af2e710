"""JSON for the database's JSON columns and the API's answers: orjson where it gives the same
value back, the standard library where it would not.

An instance's state (about 6 KB) is decoded and re-encoded on every step and an answer carries
it again; the standard library spent about a tenth of a step's CPU on that (issue 20, item 4),
orjson a fifth of it. orjson differs in two ways that matter here, each sent to the standard
library instead:

- it reads an integer beyond 64 bits as a float, silently (a serial number typed into an integer
  field would come back changed and no longer hash the same in the audit trail), and refuses to
  write one; it also refuses lone surrogates. What orjson cannot write, ``json`` writes with its
  default separators (``", "`` and ``": "``), which orjson never writes between a key and its
  value. Text without them (what this module wrote with orjson) is read by orjson; text with them
  (PostgreSQL's JSONB output, rows written before orjson, a client's request) is read by orjson
  only when it has no run of 19 digits, else by ``json``, so big integers come back exact. The
  substring test spares SQLite's rows a regular expression over the 6 KB state, which cost
  about what orjson saved.
- it writes UTF-8 instead of ``\\uXXXX`` escapes (the same JSON value; both read either).

The audit trail's canonical form (``engine/store/audit.py``) is not this: it is the hashed form
and stays byte for byte what it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")
_WRITE_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> str:
    """``obj`` as JSON text: compact from orjson, or with ``json``'s separators when orjson
    cannot write it exactly (see the module docstring)."""
    try:
        return orjson.dumps(obj, option=_WRITE_OPTIONS).decode()
    except TypeError:  # a big integer, a lone surrogate, a type orjson does not know
        return json.dumps(obj)  # ASCII escapes: a lone surrogate cannot be stored as UTF-8


def loads(text: str | bytes) -> Any:
    """The value of a JSON column's ``text`` (written by ``dumps`` or by the database), big
    integers kept exact."""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "surrogatepass")
    return _read(text, trusted_compact=text[:1] == "{" and '": ' not in text)


def parse(text: str | bytes) -> Any:
    """The value of JSON from elsewhere (a request's body), big integers kept exact."""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "surrogatepass")
    return _read(text, trusted_compact=False)


def _read(text: str, *, trusted_compact: bool) -> Any:
    if trusted_compact or _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # lone surrogates, NaN, a syntax error: json decides (and says where)
    return json.loads(text)


def flask_provider(default: Callable[[Any], Any]) -> type:
    """A Flask JSON provider class on these functions, ``default`` for what JSON lacks
    (Flask's own: dates as HTTP dates, decimals, UUIDs, dataclasses, ``__html__``)."""
    from flask.json.provider import DefaultJSONProvider

    passthrough = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS

    class OrjsonProvider(DefaultJSONProvider):
        sort_keys = False

        def dumps(self, obj: Any, **kwargs: Any) -> str:
            kwargs.pop("separators", None)  # compact is all orjson writes; only that is asked for
            if kwargs:  # an explicit request (indent in debug mode...): Flask's own way
                return super().dumps(obj, **kwargs)
            try:
                return orjson.dumps(obj, default=default, option=passthrough | _WRITE_OPTIONS).decode()
            except TypeError:
                return super().dumps(obj)

        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            return parse(s) if not kwargs else super().loads(s, **kwargs)

    return OrjsonProvider
