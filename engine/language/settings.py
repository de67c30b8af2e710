"""What ``config.yaml`` may say: the settings the server reads, with the kind of value each
takes. A key nobody reads (``loclae:``, ``token_hour:``) used to be ignored without a word,
the default applied in its place, and a value of the wrong kind (``min_length: ten``) stopped
whichever page or command read it first with a traceback; both are problems at their line
now, found when the file is loaded, before anything starts.

Sections whose keys are the installation's own names (``roles``, ``calendars``) or are
checked where they are used (``notifications.smtp``, ``.webhooks``, ``.retry``) are not
looked into here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import Problem
from engine.i18n import _
from engine.language.suggest import suggest
from engine.language.yaml_source import Path, Source


@dataclass(frozen=True)
class Kind:
    """A kind of value: its name in messages, the test, and whether an empty value (the
    default) is allowed."""

    words: Callable[[], str]
    test: Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return _is_int(v) or isinstance(v, float)


TEXT = Kind(lambda: _("a text"), lambda v: isinstance(v, str))
INTEGER = Kind(lambda: _("a whole number"), _is_int)
NUMBER = Kind(lambda: _("a number"), _is_number)
BOOLEAN = Kind(lambda: _("true or false"), lambda v: isinstance(v, bool))
LIST = Kind(lambda: _("a list, e.g. [a, b]"), lambda v: isinstance(v, list))
MAPPING = Kind(lambda: _("a section of settings (key: value lines below it)"), lambda v: isinstance(v, dict))
ANY = Kind(lambda: "", lambda v: True)

Spec = Kind | dict[str, "Spec"]

SETTINGS: dict[str, Spec] = {
    "database": {"url": TEXT},
    "paths": {"procedures": TEXT, "forms": TEXT, "uploads": TEXT, "backups": TEXT, "secret_file": TEXT},
    "secret_key": TEXT,
    "locale": TEXT,
    "auth": {
        "token_hours": NUMBER,
        "password": {"min_length": INTEGER, "history": INTEGER, "max_age_days": NUMBER},
        "lockout": {"after": INTEGER, "first_delay_seconds": NUMBER, "max_delay_seconds": NUMBER,
                    "per_address": INTEGER},
    },
    "server": {"json_logs": BOOLEAN, "secure_cookies": BOOLEAN, "trusted_proxies": LIST, "worker_seconds": NUMBER,
               "min_free_mb": NUMBER},
    "calendars": MAPPING,
    "roles": MAPPING,
    "change_control": {"distinct": TEXT},
    "audit": {"auditor_groups": LIST, "clearance_groups": LIST, "anchors": TEXT},
    "uploads": {"max_bytes": INTEGER, "max_request_bytes": INTEGER, "max_pending_bytes": INTEGER,
                "allowed_types": LIST},
    "notifications": {"base_url": TEXT, "smtp": MAPPING, "webhooks": LIST, "retry": MAPPING},
    "pdf": {"font": TEXT},
}


def check_settings(src: Source) -> list[Problem]:
    """Every key of ``config.yaml`` the server does not read and every value of the wrong
    kind, at its line. An empty value (``max_age_days:``) means the default and passes."""
    if src.data is None:
        return []
    problems: list[Problem] = []
    _check(src, (), src.data, SETTINGS, problems)
    return problems


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _check(src: Source, path: Path, value: Any, spec: Spec, problems: list[Problem]) -> None:
    if value is None:
        return
    if isinstance(spec, Kind):
        if not spec.test(value):
            problems.append(src.problem(path, _("{setting} must be {kind}, not '{value}'; see the comments "
                                                "of the shipped config.yaml and docs/operations.md",
                                                setting=_dotted(path), kind=spec.words(), value=value)))
        return
    if not isinstance(value, dict):
        problems.append(src.problem(path, _("{setting} must be {kind}, not '{value}'", setting=_dotted(path) or
                                            "config.yaml", kind=MAPPING.words(), value=value)))
        return
    for key, inner in value.items():
        if key not in spec:
            near = suggest(str(key), spec)
            hint = _("did you mean '{near}'?", near=near) if near else \
                _("the settings here are: {known}", known=", ".join(spec))
            problems.append(src.problem((*path, key), _(
                "unknown setting '{setting}'; {hint} (a key the server does not read would be ignored)",
                setting=_dotted((*path, key)), hint=hint), key=True))
            continue
        _check(src, (*path, key), inner, spec[key], problems)
