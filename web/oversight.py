"""The signed-in reader of a request, and the hooks that keep auditors from writing.

The rules themselves live in the application layer: ``engine.app.access`` (who may read,
who may act, auditors change nothing) and ``engine.app.masking`` (what a reader sees in
clear)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask, g, request

from engine.app import access, user_admin
from engine.app.access import Reader
from engine.i18n import _
from web.db import services

_SAFE = frozenset(("GET", "HEAD", "OPTIONS"))
# Web endpoints that post but change no record: signing in and out, the UI language.
_ALWAYS_ALLOWED = frozenset(("auth.login", "auth.logout", "auth.set_locale", "api.token"))


def current_reader() -> Reader | None:
    """The signed-in web user as a reader (None when nobody is signed in)."""
    user = getattr(g, "user", None)
    return access.reader_of(services().config, user.username, user.groups) if user else None


def signed_in_reader() -> Reader:
    """``current_reader`` for a view behind ``login_required`` (which ran first: somebody
    is signed in)."""
    reader = current_reader()
    assert reader is not None  # login_required ran first
    return reader


def api_reader(username: str) -> Reader:
    """The API caller as a reader, looked up once per request (the auditors' guard and the
    answer both need it)."""
    cached = g.get("api_reader")
    if cached is None or cached.username != username:
        cached = g.api_reader = access.reader_for(services(), username)
    return cached


def _refuse_auditor_writes() -> None:
    if request.method in _SAFE or request.endpoint in _ALWAYS_ALLOWED:
        return
    reader = current_reader()
    if reader is not None:
        access.refuse_auditor(reader)


def _refuse_auditor_api_writes() -> None:
    if request.method in _SAFE or request.endpoint in _ALWAYS_ALLOWED:
        return
    name = getattr(g, "api_user", None)
    if name:
        access.refuse_auditor(api_reader(name))


def init_app(app: Flask) -> None:
    """Runs after sign-in (web) and after token checks (API), which are registered first."""
    app.before_request(_refuse_auditor_writes)
    app.before_request_funcs.setdefault("api", []).append(_refuse_auditor_api_writes)
    app.jinja_env.globals["current_reader"] = current_reader
    app.jinja_env.globals["user_rights"] = user_admin.rights  # the "Users" link


# The instants a query range is held to: a day at either end of the calendar (0001-01-01,
# 9999-12-31) has no midnight before or after it in some zone, and computing one was a 500.
# Nothing is recorded outside them, so a range held to them finds what it asked for.
_EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
_LATEST = datetime(9998, 12, 31, tzinfo=UTC)


def parse_day(value: str | None, what: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` query value as local midnight (of the display zone, where the KPI
    days are cut too), in UTC; the next midnight for an ``end``. A value with an offset is
    taken as written. Held to years 2 to 9998 (``_EARLIEST``, ``_LATEST``)."""
    from web.errors import BadRequest
    from web.i18n import display_zone

    if not value:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(_("'{name}' must be a date written YYYY-MM-DD, not '{value}'", name=what, value=value),
                         errors=[{"field": what, "message": _("a date written YYYY-MM-DD")}]) from exc
    try:
        if day.tzinfo is None:
            if end and len(value) == 10:
                day += timedelta(days=1)
            moment = day.replace(tzinfo=display_zone()).astimezone(UTC)
        else:
            moment = day.astimezone(UTC)
            moment = moment + timedelta(days=1) if end and len(value) == 10 else moment
    except OverflowError:
        return _EARLIEST if day.year < 5000 else _LATEST
    return min(max(moment, _EARLIEST), _LATEST)
