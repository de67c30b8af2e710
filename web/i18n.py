"""The request's language and time zone for pages; the texts live in ``engine.i18n``.

``g.locale`` is the signed-in user's choice, else config ``locale``; ``init_app`` makes it the
current locale of ``engine.i18n`` for each request, so the engine's messages and the pages
speak the same language. Procedure, step and form titles are shown as written.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, has_request_context

from engine import i18n
from engine.i18n import LOCALES


def default_locale() -> str:
    cfg = current_app.config.get("WF")
    loc = cfg.get("locale", default="zh") if cfg is not None else "zh"
    return loc if loc in LOCALES else "zh"


def get_locale() -> str:
    if has_request_context():
        loc = getattr(g, "locale", None)
        if loc in LOCALES:
            return loc
        return default_locale()
    return "zh"


def gettext(text: str, locale: str | None = None, **params: Any) -> str:
    """``text`` in ``locale`` (default: the request's), with ``params`` filled in."""
    return i18n.gettext(text, locale or get_locale(), **params)


_ = gettext


def use(locale: str) -> None:
    """Make ``locale`` the current one of ``engine.i18n`` for the rest of this request."""
    i18n.set_locale(locale)


def init_app(app: Flask) -> None:
    app.teardown_request(lambda _exc: i18n.reset())
    app.jinja_env.globals["_"] = gettext
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["time"] = fmt_time


def display_zone():
    """The zone times are shown in: ``Config.timezone`` (the default calendar's), the same
    zone whose midnights cut the KPI days; UTC outside a request."""
    from zoneinfo import ZoneInfo

    cfg = current_app.config.get("WF") if has_request_context() else None
    return cfg.timezone if cfg is not None else ZoneInfo("UTC")


def zone_label() -> str:
    """The display zone as a heading names it: ``(Asia/Shanghai)``."""
    return f"({display_zone().key})"


def fmt_time(value: Any, *, named: bool = False) -> str:
    """An instant (aware datetime or ISO text) as ``YYYY-MM-DD HH:MM`` in the display zone
    (``engine.i18n.local_time``); ``named`` adds the zone: ``2026-12-01 08:30 (Asia/Shanghai)``."""
    return i18n.local_time(value, display_zone(), named=named)
