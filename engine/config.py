"""Server configuration: ``config.yaml`` with environment-variable overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The zone of the built-in calendar, and of days and times when config names none.
DEFAULT_TIMEZONE = "Asia/Shanghai"

ENV_OVERRIDES = {
    "WF_DATABASE_URL": ("database", "url"),
    "WF_SECRET_KEY": ("secret_key",),
    "WF_PROCEDURES_DIR": ("paths", "procedures"),
    "WF_FORMS_DIR": ("paths", "forms"),
    "WF_LOCALE": ("locale",),
    "WF_AUDIT_ANCHORS": ("audit", "anchors"),
}

#: The shortest secret key taken: 32 random characters hold well over 128 bits.
MIN_SECRET_LENGTH = 32
# A random key of MIN_SECRET_LENGTH hex characters has fewer different characters than this
# about never (well under once in a million); "x" * 40 or "aaaa..." always.
MIN_SECRET_DISTINCT = 8
#: How to make a good key, as the refusals say it.
MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def secret_key_weakness(key: str) -> str | None:
    """Why ``key`` cannot sign sessions and API tokens (anyone could guess or try it), or
    None when it may: at least ``MIN_SECRET_LENGTH`` characters, of at least
    ``MIN_SECRET_DISTINCT`` different ones, and not one short piece repeated."""
    from engine.i18n import _

    if len(key) < MIN_SECRET_LENGTH:
        return _("is too short ({n} character{s}; at least {least} random ones are needed)",
                 n=len(key), s="" if len(key) == 1 else "s", least=MIN_SECRET_LENGTH)
    if len(set(key)) < MIN_SECRET_DISTINCT:
        return _("is too easy to guess (only {n} different characters; a random key has many)",
                 n=len(set(key)))
    if key in (key + key)[1:-1]:  # "abcdefgh" * 4: one piece over and over
        return _("is too easy to guess (one piece repeated; a random key repeats nothing)")
    return None


@dataclass
class Config:
    """Loaded settings; ``root`` is the directory relative paths are resolved against."""

    raw: dict[str, Any] = field(default_factory=dict)
    root: Path = Path(".")
    #: The file read (None: none was, the defaults and the environment apply); named in messages.
    file: Path | None = None
    #: This run may make the configured SQLite file anew although its folder shows that a
    #: database was in use there (``wf db upgrade --new-database``).
    new_database: bool = False

    def get(self, *keys: str, default: Any = None) -> Any:
        node: Any = self.raw
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    def path(self, *keys: str, default: str) -> Path:
        p = Path(self.get(*keys, default=default))
        return p if p.is_absolute() else self.root / p

    @property
    def database_url(self) -> str:
        url = str(self.get("database", "url", default="sqlite:///var/workflow.db"))
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            url = prefix + str(self.root / url[len(prefix):])
        return url

    def groups_for_role(self, procedure_id: str, role: str) -> list[str]:
        """Groups that hold ``role`` in ``procedure_id``; a procedure-specific entry wins."""
        roles = self.get("roles", default={}) or {}
        specific = roles.get(f"{procedure_id}.{role}")
        if specific is not None:
            return list(specific)
        return list(roles.get(role, []))

    def calendar(self, name: str) -> dict[str, Any] | None:
        return (self.get("calendars", default={}) or {}).get(name)

    @property
    def timezone(self) -> ZoneInfo:
        """The zone people live in: times are shown in it and KPI days and months are cut
        at its midnight. It is the default calendar's (``calendars.default.timezone``), else
        Asia/Shanghai as in the built-in calendar; an unknown name (``wf validate`` reports
        it) reads as UTC rather than stopping a page."""
        name = (self.calendar("default") or {}).get("timezone") or DEFAULT_TIMEZONE
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


def load_config(path: str | os.PathLike[str] | None = None, *,
                overrides: dict[str, Any] | None = None) -> Config:
    """Read ``config.yaml`` (or ``WF_CONFIG``), then apply env vars, then ``overrides``."""
    path = Path(path or os.environ.get("WF_CONFIG", "config.yaml"))
    raw: dict[str, Any] = {}
    if path.exists():
        # Read as procedures are: a key given twice is refused at its line, not silently
        # replaced by the later one (config.yaml once had `uploads:` twice, the first dead).
        from engine.errors import DefinitionInvalid
        from engine.language.settings import check_settings
        from engine.language.yaml_source import load as load_yaml

        src = load_yaml(path.read_text(encoding="utf-8"), str(path))
        if src.problems:
            raise DefinitionInvalid(src.problems)
        wrong = check_settings(src)  # a typo'd key or a value of the wrong kind, at its line
        if wrong:
            raise DefinitionInvalid(wrong)
        raw = src.data or {}
    for env, keys in ENV_OVERRIDES.items():
        if env in os.environ:
            _set(raw, keys, os.environ[env])
    for dotted, value in (overrides or {}).items():
        _set(raw, tuple(dotted.split(".")), value)
    return Config(raw=raw, root=path.resolve().parent, file=path if path.exists() else None)


def _set(raw: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
