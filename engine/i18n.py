"""Messages in Simplified Chinese and English, one mechanism for the whole product.

The texts live in gettext catalogs: ``engine/translations/<locale>/LC_MESSAGES/messages.po``,
msgid = the English text (so a missing translation still reads well), msgstr = its
translation; ``scripts/i18n`` extracts and merges them. The build compiles each ``.po`` to its
``.mo`` (engine/i18n_build.py), and so does this module at first use when the ``.mo`` is
missing or older (a source tree run without installing, a ``.po`` edited since): see
docs/translations.md. The web reads the same catalogs through
Flask-Babel (``web.i18n``); the engine, the worker and the CLI through
``babel.support.Translations``, here.

``gettext("Inbox")`` gives the text in the current locale: the web sets it per request (the
signed-in user's choice, else config ``locale``), the API from ``Accept-Language``, the CLI
from config. Errors raised by the engine carry text translated the same way, so an engine
message reaches the Chinese UI in Chinese. Placeholders use ``str.format`` names:
``gettext("{n} tasks", n=3)``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any, TypedDict

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("zh", "en")
DOMAIN = "messages"
CATALOGS = Path(__file__).with_name("translations")


def N_(text: str) -> str:
    """Marks ``text`` for the catalog without translating it: a word kept as a value (a
    status, an event name) and translated where it is shown, with ``_(value)``."""
    return text


def compile_catalogs(source: Path, target: Path, *, force: bool = False) -> list[Path]:
    """Each ``source/<locale>/LC_MESSAGES/*.po`` compiled to the same place under ``target``
    when its ``.mo`` is missing or older than the ``.po`` (or ``force``); the ``.mo`` files
    written. Each is written to a temporary name and renamed, so a process reading the
    catalog (another server worker compiling at the same moment) never sees half a file."""
    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parents[1].name)
        mo.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=mo.name, suffix=".tmp", dir=mo.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                write_mo(f, catalog)  # fuzzy entries left out: English until checked
            os.replace(tmp, mo)
        except BaseException:
            os.unlink(tmp)
            raise
        written.append(mo)
    return written


@lru_cache(maxsize=1)
def catalog_dir() -> Path:
    """The directory holding the compiled catalogs: ``engine/translations`` itself (a source
    tree, an editable install, a wheel whose build compiled them), else, where that is not
    writable and a ``.mo`` is missing or stale, a cache directory keyed by the source path
    (``$XDG_CACHE_HOME/qualityflow``, else the system's temporary directory)."""
    try:
        compile_catalogs(CATALOGS, CATALOGS)
        return CATALOGS
    except OSError:
        pass
    key = hashlib.sha256(str(CATALOGS).encode()).hexdigest()[:16]
    for base in (os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", tempfile.gettempdir()):
        target = Path(base) / "qualityflow" / f"translations-{key}"
        try:
            compile_catalogs(CATALOGS, target)
            return target
        except OSError:
            continue
    raise OSError(f"cannot write the compiled catalogs of {CATALOGS}: make it or $XDG_CACHE_HOME writable")


@lru_cache(maxsize=8)
def translations(locale: str) -> NullTranslations:
    """The catalog of ``locale`` (English, and any locale without one, translate nothing)."""
    return Translations.load(str(catalog_dir()), [locale], DOMAIN)


_current: ContextVar[str] = ContextVar("locale", default="en")


def current_locale() -> str:
    return _current.get()


_chosen: ContextVar[bool] = ContextVar("locale_chosen", default=False)


def set_locale(locale: str | None, *, chosen: bool = True) -> None:
    """The locale of what runs next in this context (a request, a command); unknown: zh.
    Outside a request (the worker, a command, tests of the engine) it is English. ``chosen``:
    a reader chose it (their setting, a request's Accept-Language), so titles follow it too
    (:func:`reader_locale`); an API client that asks for no language gets English messages
    and titles as written."""
    _current.set(locale if locale in LOCALES else "zh")
    _chosen.set(chosen)


def reset() -> None:
    """Back to the default (English) once a request is over, so nothing that runs next in
    this thread (the worker, another test) speaks the last user's language by accident."""
    _current.set("en")
    _chosen.set(False)


def reader_locale() -> str:
    """The language of the titles people wrote (procedures, steps, roles, form fields, whose
    ``en:`` blocks may give English ones): a reader's chosen locale (a request's); else
    ``zh``, as written, for what no reader chose (the worker, a command, records)."""
    return _current.get() if _chosen.get() else "zh"


def gettext(text: str, locale: str | None = None, **params: Any) -> str:
    """``text`` in ``locale`` (default: the current one), with ``params`` filled in."""
    out = translations(locale or _current.get()).gettext(text) if text else text
    return out.format(**params) if params else out


_ = gettext


def local_time(value: Any, zone: tzinfo, *, named: bool = False) -> str:
    """An instant (aware datetime, or ISO text as records keep it) as people read it:
    ``YYYY-MM-DD HH:MM`` in ``zone``; ``named`` adds the zone, as files and printouts read
    apart from the page need (``2026-12-01 08:30 (Asia/Shanghai)``). A naive time is UTC
    (as stored); text that is not a time is returned as it is. The one formatting of times
    (pages reach it through ``web.i18n.fmt_time``)."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        text: str = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        text = value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except OverflowError:
        # An instant at the calendar's end (a 9999-12-31T20:00Z "no deadline" typed into a
        # form) is past year 9999 in Beijing: said in UTC rather than ending the page.
        return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M (UTC)"))
    return f"{text} ({getattr(zone, 'key', None) or zone})" if named else text


class StoredMessage(TypedDict):
    """A message kept in a record (an instance's state, an event): its catalogue key (the
    English text with ``{name}`` placeholders) and the values of the placeholders."""

    key: str
    params: dict[str, str]


def keep(text: str, **params: Any) -> tuple[str, StoredMessage]:
    """A message to store with a record, such as why a task has no due time: its English
    text (what older readers, logs and the API's ``problem`` show) and its key and parameters
    (``*_message`` beside it), so that :func:`shown` gives each reader their language."""
    values = {k: str(v) for k, v in params.items()}
    return text.format(**values), {"key": text, "params": values}


def worded_apart(text: str, kept: tuple[str, StoredMessage]) -> tuple[str, StoredMessage]:
    """``text`` as logs and scripts read it, beside what readers are told (``kept``, from
    :func:`keep`, whose own English is for the catalogue): a note the editor writes, a finding
    of the integrity check."""
    return text, kept[1]


def stored(record: Mapping[str, Any], key: str, locale: str | None = None) -> str:
    """``record[key]``, a message kept with ``keep`` beside ``record[key + "_message"]``, in
    ``locale``: ``{{ c|stored("reason") }}`` on a page."""
    return shown(record.get(key), record.get(f"{key}_message"), locale)


def shown(text: str | None, message: Mapping[str, Any] | None = None, locale: str | None = None) -> str:
    """A stored message in ``locale`` (default: the current one): from its key and
    parameters when the record keeps them; else the text as stored (records written before
    keys were kept), translated when it is a whole text of the catalogue."""
    if message and isinstance(message.get("key"), str):
        params = message.get("params") or {}
        try:
            return gettext(message["key"], locale, **params) if params else gettext(message["key"], locale)
        except (KeyError, IndexError, ValueError):
            pass  # a key whose placeholders changed since: the stored text still says it
    return gettext(text, locale) if text else ""
