"""The installed procedures as a user sees them: current versions with the user's roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.app.services import Services
    from engine.language.procedure import Procedure


@dataclass
class Installed:
    procedure: Procedure
    version_id: int
    my_roles: frozenset[str]

    @property
    def may_start(self) -> bool:
        return bool(self.my_roles & set(self.procedure.start_roles))


def installed(services: Services, username: str) -> list[Installed]:
    """Every published procedure (current version) with the user's roles in it."""
    wf = services.workflow
    with services.database.reading() as s:
        return [Installed(proc, vid, held) for proc, vid, held in wf.roles_in_current(s, username)]


def one(services: Services, username: str, procedure_id: str) -> Installed:
    """One procedure's current version with the user's roles (404 for an unknown id)."""
    wf = services.workflow
    with services.database.reading() as s:
        proc, vid = wf.procedure(s, procedure_id)
        return Installed(proc, vid, wf.actor(s, username, proc).roles)
