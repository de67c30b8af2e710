"""Who may read records, who may act on a task, and that auditors change nothing.

* **Auditors** (config ``audit.auditor_groups``, default ``[auditors]``) read every
  instance, event, dossier, ledger and KPI of every procedure and change nothing: every
  write of the web UI and of the API refuses them with 403.
* **Admins** (the groups of role ``admin``) read everything as well.
* Everybody else reads the procedures in which they hold a role, and the single instances
  sent to them by name (抄送 ``user:NAME``; a CC to a role reaches people who read its
  procedure already). A CC gives reading only: acting stays the runtime's rule.
* Who may act on a task is the runtime's one rule (``may_act``): its assignee, or while
  unassigned a holder of its role or of a role it was escalated to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from engine.errors import CommandRejected, Conflict, NotFound, NotPermitted
from engine.i18n import _
from engine.runtime import access as runtime_access
from engine.store import users as user_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.service import Workflow
    from engine.app.services import Services
    from engine.config import Config
    from engine.language.procedure import Procedure
    from engine.runtime.commands import Actor


@dataclass(frozen=True)
class Reader:
    username: str
    groups: frozenset[str]
    auditor: bool
    admin: bool
    cleared: bool

    @property
    def reads_everything(self) -> bool:
        return self.auditor or self.admin


@dataclass(frozen=True)
class SpecialGroups:
    """The groups that config gives a standing beyond the procedures' roles."""

    admins: frozenset[str]  # roles: admin
    auditors: frozenset[str]  # audit: auditor_groups (default [auditors])
    cleared: frozenset[str]  # audit: clearance_groups (default [data-officers]): masked values in clear


def special_groups(config: Config) -> SpecialGroups:
    """The administrators', auditors' and clearance groups as config names them, with their
    defaults: the one place they are read (readers, the user pages, notices to admins)."""
    return SpecialGroups(frozenset(config.get("roles", "admin", default=[]) or ()),
                         frozenset(config.get("audit", "auditor_groups", default=["auditors"]) or ()),
                         frozenset(config.get("audit", "clearance_groups", default=["data-officers"]) or ()))


def reader_of(config: Config, username: str, groups: Iterable[str]) -> Reader:
    groups = frozenset(groups)
    special = special_groups(config)
    return Reader(username, groups, bool(groups & special.auditors), bool(groups & special.admins),
                  bool(groups & special.cleared))


def reader_named(config: Config, session: Session, username: str) -> Reader:
    """The reader of an active user (API callers: the token names only the user)."""
    found = user_store.identity(session, username)
    if found is None or not found[1]:
        raise NotPermitted(_("unknown or inactive user '{user}'; check the user name or ask an administrator",
                             user=username))
    return reader_of(config, username, found[2])


def reader_for(services: Services, username: str) -> Reader:
    """``reader_named`` in a read session of its own (an API caller's reader)."""
    with services.database.reading() as session:
        return reader_named(services.config, session, username)


def refuse_auditor(reader: Reader) -> None:
    """Auditors read and change nothing. Asked before every request that may write, whatever
    its use case (``web/oversight.py``, for the pages and the API alike): deny by default, so a
    write use case added later cannot forget it. The command line and the worker act for no
    signed-in person and do not ask it."""
    if reader.auditor:
        raise NotPermitted(_("auditors read records and change nothing; this action is refused "
                             "(use an account without the auditors group to work on tasks)"))


# --------------------------------------------------------------------------- reading rights


def readable(workflow: Workflow, session: Session, reader: Reader) -> dict[str, tuple[Procedure, int]]:
    """``{procedure id: (current procedure, version id)}`` the reader may read."""
    if reader.reads_everything:
        return {proc.id: (proc, vid) for proc, vid in workflow.current(session)}
    return {proc.id: (proc, vid) for proc, vid, held in workflow.roles_in_current(session, reader.username) if held}


def require_procedure(workflow: Workflow, session: Session, reader: Reader,
                      procedure_id: str) -> tuple[Procedure, int]:
    found = readable(workflow, session, reader).get(procedure_id)
    if found is None:
        workflow.procedure(session, procedure_id)  # NotFound for an unknown id
        raise NotPermitted(_("you hold no role in procedure '{id}', so you may not read "
                             "its records; ask an administrator for a role or the auditors group", id=procedure_id))
    return found


def _holds_role_in_current(workflow: Workflow, session: Session, reader: Reader, procedure_id: str) -> bool:
    """Whether the reader holds a role in the procedure's current version: the lists, the
    search and the ledgers (``readable``) show them its records of every version, so the
    record itself is theirs to read too (a role added by a later version reads the records
    started before it)."""
    try:
        current, _vid = workflow.procedure(session, procedure_id)
    except NotFound:
        return False
    return bool(workflow.actor(session, reader.username, current).roles)


def require_instance(workflow: Workflow, session: Session, reader: Reader,
                     instance_id: str, *, history: bool = False) -> tuple[dict, Procedure]:
    """The instance (``Workflow.instance``) and its pinned procedure version; 403 unless the
    reader may read that procedure (auditors and admins read every one)."""
    inst = workflow.instance(session, instance_id, history=history)
    proc = workflow.runtime(session, inst["version"]["id"]).procedure
    if (not reader.reads_everything and not workflow.actor(session, reader.username, proc).roles
            and not runtime_access.cc_named(inst, reader.username)
            and not _holds_role_in_current(workflow, session, reader, proc.id)):
        raise NotPermitted(_("you hold no role in '{title}' ({id}), so you may not read "
                             "instance {instance}; ask an administrator for a role",
                             title=proc.title, id=proc.id, instance=instance_id))
    return inst, proc


# --------------------------------------------------------------------------- acting


# Who may act, cancel or correct is the runtime's rule (it enforces it when a command runs);
# pages and the API ask the same functions before offering an action.
may_act = runtime_access.may_act
may_cancel = runtime_access.may_cancel
may_correct = runtime_access.may_correct
may_start = runtime_access.may_start
separation_conflict = runtime_access.separation_conflict
check_separation = runtime_access.check_separation
check_act = runtime_access.check_act
decided_already = runtime_access.decided_already
check_decides_once = runtime_access.check_decides_once


@contextmanager
def outsiders_told_nothing(workflow: Workflow, config: Config, session: Session, username: str,
                           task_id: str) -> Iterator[None]:
    """A refusal of an action on a task (the task is done, and by whom; it is for another role;
    the step's title; the record's version) tells about the record's progress: to someone who
    may neither read the record nor act on the task, the refusal is the read's own
    (``require_instance``), as the record's page and ``GET /instances/{id}`` answer them. Asked
    only on a refusal, so a step pays nothing for it."""
    try:
        yield
    except (CommandRejected, Conflict) as refused:
        try:
            outsider = _outsider(workflow, config, session, username, task_id)
        except SQLAlchemyError:  # the refusal came from the database (PostgreSQL: the transaction is over)
            outsider = None
        if outsider is not None:
            raise outsider from refused
        raise


def _outsider(workflow: Workflow, config: Config, session: Session, username: str, task_id: str) -> NotPermitted | None:
    """The read's refusal of ``username`` unless they may read the task's record or act on it."""
    try:
        require_task(workflow, session, reader_named(config, session, username), task_id)
    except NotPermitted as refused:
        return refused
    return None


def require_task(workflow: Workflow, session: Session, reader: Reader,
                 task_id: str) -> tuple[dict, dict | None, Procedure, Actor]:
    """The task's instance, the task (None when it has no such task), its pinned procedure and
    the reader as its actor, for whoever may read the instance (``require_instance``) or act
    on the task (a manager a deadline escalated it to holds no role in the procedure); 403
    for anyone else."""
    instance_id, _sep, local = task_id.rpartition(".")
    inst = workflow.instance(session, instance_id)
    proc = workflow.runtime(session, inst["version"]["id"]).procedure
    actor = workflow.actor(session, reader.username, proc)
    task = next((t for t in inst["tasks"] if t["id"] == local), None)
    if not (reader.reads_everything or actor.roles or (task is not None and may_act(task, actor))):
        require_instance(workflow, session, reader, instance_id)  # raises the reader's 403
    return inst, task, proc, actor
