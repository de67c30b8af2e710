"""The request's language and time zone for pages, through Flask-Babel.

``g.locale`` is the signed-in user's choice, else config ``locale``. Flask-Babel's locale
selector is that locale and its time zone selector the display zone, and it reads the catalogs
``engine.i18n`` compiles (engine/translations); ``use`` also makes the locale the current one
of ``engine.i18n`` for the request, so the engine's messages and the pages speak the same
language from the same catalog. Titles people wrote (procedures, steps, forms) are shown as
written, or in English on an English page where the file gives it (the ``shown`` filter).
Pages call ``_("text", name=value)`` with ``str.format`` placeholders, as the engine does
(Flask-Babel's own Jinja ``gettext`` formats with ``%``, so it is not installed in templates).
"""

from __future__ import annotations

from typing import Any

import flask_babel
from flask import Flask, current_app, g, has_request_context, request
from markupsafe import Markup, escape

from engine import i18n
from engine.i18n import LOCALES
from engine.language import english

babel = flask_babel.Babel(configure_jinja=False)


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
    """``text`` in ``locale`` (default: the request's, from Flask-Babel's catalog), with
    ``params`` filled in."""
    if locale is None and has_request_context() and text:
        out = _translations().gettext(text)
        return out.format(**params) if params else out
    return i18n.gettext(text, locale or get_locale(), **params)


_ = gettext


def gettext_code(text: str, **codes: str) -> Markup:
    """``text`` in the request's language with each of ``codes`` (a command, a file, a
    setting) set in ``<code>``, which people copy as it is and the Chinese pages' check for
    English words leaves alone; the text itself escaped."""
    return Markup(escape(gettext(text))).format(**{k: Markup("<code>%s</code>") % v for k, v in codes.items()})


def _translations() -> Any:
    """Flask-Babel's catalog of this request, kept on ``g`` until ``use`` changes the
    language: a list page asks for a thousand labels, and each lookup through Flask-Babel
    (its context, domain and locale) cost about 15 µs, 20 ms of a page of 100 instances."""
    found = g.get("_wf_translations")
    if found is None:
        found = g._wf_translations = flask_babel.get_translations()
    return found


def use(locale: str, *, chosen: bool = True) -> None:
    """Make ``locale`` the current one of ``engine.i18n`` and Flask-Babel for the rest of this
    request (Flask-Babel keeps what it chose first in a request: ``refresh`` forgets it)."""
    i18n.set_locale(locale, chosen=chosen)
    if has_request_context():
        g.locale = locale
        g.pop("_wf_translations", None)
        flask_babel.refresh()


def use_the_apis() -> None:
    """The API's language for this request: what the client's ``Accept-Language`` asks for,
    English when it asks for none (as the API has always answered; titles then as written,
    since only a choice picks theirs). Its views and its error answers both use it."""
    use(request.accept_languages.best_match(LOCALES, default="en") or "en",
        chosen=bool(request.accept_languages))


def init_app(app: Flask) -> None:
    babel.init_app(app, default_locale="zh", default_domain=i18n.DOMAIN,
                   default_translation_directories=str(i18n.catalog_dir()),
                   locale_selector=get_locale, timezone_selector=display_zone)
    app.teardown_request(lambda _exc: i18n.reset())
    app.jinja_env.globals["_"] = gettext
    app.jinja_env.globals["gettext"] = gettext
    app.jinja_env.globals["_code"] = gettext_code
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["time"] = fmt_time
    app.jinja_env.filters["shown"] = shown
    app.jinja_env.filters["stored"] = i18n.stored


def shown(thing: Any, what: str = "title") -> str:
    """``{{ procedure|shown }}``, ``{{ step|shown("description") }}``, ``{{ form|shown }}``: a
    title people wrote, in English on an English page where the file's ``en:`` block gives it,
    else as written (engine.language.english)."""
    return english.shown(thing, what, get_locale())


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
