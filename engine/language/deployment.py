"""A procedure checked against the configuration it will run with (``config.yaml``).

A role that no user group holds gives tasks nobody can act on, not even an admin; a calendar
name that the configuration lacks silently fell back to the default one. Both are mistakes
of the pair (procedure, configuration), so ``wf validate`` reports them with the config it
reads, at the procedure's line.

Pure module: the configuration is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from engine.errors import Problem
from engine.i18n import _
from engine.language import yaml_source as yamlsrc
from engine.language.suggest import suggest

if TYPE_CHECKING:
    from engine.language.procedure import Procedure
    from engine.language.yaml_source import Path


class Settings(Protocol):
    """What the check reads of ``engine.config.Config``."""

    def get(self, *keys: str, default: Any = None) -> Any: ...

    def groups_for_role(self, procedure_id: str, role: str) -> list[str]: ...

__all__ = ["Settings", "check_config"]

#: Always available: the built-in calendar (Asia/Shanghai, Monday to Friday) when the
#: configuration names none.
DEFAULT_CALENDAR = "default"


def check_config(procedures: Iterable[Procedure], config: Settings) -> list[Problem]:
    """Roles without groups and unknown calendars in ``procedures``, under ``config``."""
    calendars = sorted((config.get("calendars", default={}) or {}).keys())
    known_calendars = {DEFAULT_CALENDAR, *calendars}
    source = "config.yaml"
    problems: list[Problem] = []
    for proc in procedures:
        src = yamlsrc.load(proc.text, proc.file)
        for rid in proc.roles:
            if not config.groups_for_role(proc.id, rid):
                line, col = src.where(("roles", rid), key=True)
                problems.append(Problem(proc.file, line, col, _(
                    "role '{role}' has no user group in {source}, so nobody, not even an admin, could "
                    "act on its tasks; add '{role}: [GROUP]' (or '{procedure}.{role}: [GROUP]') under "
                    "'roles:' there", role=rid, source=source, procedure=proc.id)))
        uses: list[tuple[Path, str]] = [(("calendar",), proc.calendar)] if "calendar" in (src.data or {}) else []
        for step in proc.steps.values():
            raw = ((src.data or {}).get("steps") or {}).get(step.id) or {}
            deadline = raw.get("deadline") if isinstance(raw, dict) else None
            if isinstance(deadline, dict) and "calendar" in deadline and step.deadline is not None:
                uses.append((("steps", step.id, "deadline", "calendar"), step.deadline.calendar))
        for path, name in uses:
            if name not in known_calendars:
                hint = suggest(name, sorted(known_calendars))
                said = {"name": name, "source": source}
                if hint:
                    message = _("unknown calendar '{name}': {source} has no 'calendars: {name}:' (the default "
                                "calendar would be used without a word); did you mean '{hint}'?", hint=hint, **said)
                else:
                    message = _("unknown calendar '{name}': {source} has no 'calendars: {name}:' (the default "
                                "calendar would be used without a word); calendars in {source}: {calendars}",
                                calendars=", ".join(sorted(known_calendars)), **said)
                line, col = src.where(path)
                problems.append(Problem(proc.file, line, col, message))
    return problems
