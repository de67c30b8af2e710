"""The ``format`` values a form's fields may declare, checked the way operators write them."""

from __future__ import annotations

import datetime as _dt
import re

from jsonschema import FormatChecker

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


@FORMAT_CHECKER.checks("date-time")
def _is_datetime(value: object) -> bool:
    """RFC 3339, but the seconds and the offset may be left out (what a browser sends)."""
    if not isinstance(value, str):
        return True
    m = _DATETIME_RE.match(value)
    if not m:
        return False
    return _is_date(m[1]) and _is_time(m[2])


@FORMAT_CHECKER.checks("time")
def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    m = _TIME_RE.match(value)
    if m is None:
        return False
    return int(m[1]) < 24 and int(m[2]) < 60 and (m[3] is None or int(m[3]) < 60)


@FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL_RE.match(value))


# A recorded date-time that names an instant: it ends in Z or an offset (an API client's
# "...T16:30:00Z"). One without is the wall time people typed (a browser's datetime-local).
_WITH_OFFSET = re.compile(r"T.*(Z|[+-]\d\d(:?\d\d)?)$", re.IGNORECASE)


def names_instant(text: str) -> bool:
    """Whether a recorded date-time ends in Z or an offset (``instant_of`` reads it)."""
    return _WITH_OFFSET.search(text) is not None


def instant_of(text: str) -> _dt.datetime | None:
    """A recorded date-time that ``names_instant`` as an aware datetime; None for one that
    does not, or that does not read as a time."""
    if not names_instant(text):
        return None
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
