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


# The dates a query may name (the KPI, ledger and audit ranges): wide enough for any record.
_FIRST_YEAR, _LAST_YEAR = 1900, 2999


def parse_day(value: str | None, what: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` query value as local midnight (of the display zone, where the KPI
    days are cut too), in UTC; the next midnight for an ``end``. A value with an offset is
    taken as written."""
    from web.errors import BadRequest
    from web.i18n import display_zone

    if not value:
        return None
    try:
        day = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(_("'{name}' must be a date written YYYY-MM-DD, not '{value}'", name=what, value=value),
                         errors=[{"field": what, "message": _("a date written YYYY-MM-DD")}]) from exc
    if not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        # 9999-12-31 has no next midnight, 0001-01-01 no instant east of UTC: a 500 before.
        raise BadRequest(_("'{name}' must be a date between {first} and {last}, not '{value}'",
                           name=what, first=f"{_FIRST_YEAR}-01-01", last=f"{_LAST_YEAR}-12-31", value=value),
                         errors=[{"field": what, "message": _("a date between {first} and {last}",
                                                              first=f"{_FIRST_YEAR}-01-01",
                                                              last=f"{_LAST_YEAR}-12-31")}])
    if day.tzinfo is None:
        if end and len(value) == 10:
            day += timedelta(days=1)
        return day.replace(tzinfo=display_zone()).astimezone(UTC)
    day = day.astimezone(UTC)
    return day + timedelta(days=1) if end and len(value) == 10 else day
