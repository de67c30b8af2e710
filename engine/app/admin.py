"""Use cases of the ``wf`` command line: the database schema, users, the audit record, the
procedure library and the worker. ``engine/cli`` parses arguments, calls one of these and
prints the answer; everything that touches the database happens here.

A command opens ``Services`` with ``opened``: unlike the web server it neither migrates the
schema (an out-of-date database is refused with the command that fixes it) nor installs the
procedure library (``wf user add`` must not register procedures as a side effect).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select

from engine import store
from engine.app import org, user_admin
from engine.app.access import special_groups
from engine.app.database import Database
from engine.app.service import Workflow
from engine.app.services import DatabaseUnreachable as DatabaseUnreachable  # what commands catch
from engine.app.services import (
    Migrated,
    Services,
    check_library_folders,
    connect,
    migrate_schema,
    outdated,
    shown_url,
)
from engine.app.services import SchemaOutdated as SchemaOutdated  # what commands catch, named here
from engine.errors import NotFound, WorkflowError
from engine.i18n import _
from engine.language.calendar import Calendar
from engine.language.procedure import load_library
from engine.language.procedures_doc import render
from engine.store import org as org_store
from engine.store import users as user_store
from engine.store import versions as version_store

if TYPE_CHECKING:
    from engine.app.worker import Worker
    from engine.config import Config
    from engine.store.audit import Report
    from engine.store.audit_file import FileReport


# --------------------------------------------------------------------------- the database


@contextmanager
def opened(config: Config, *, require_current: bool = True, name: str | None = None) -> Iterator[Services]:
    """The services of one command on the configured database; by default refuses a schema
    that is not at the revision this program needs. The connections close at the end.
    ``name``: what the connections call themselves on PostgreSQL (``application_name``)."""
    options = {}
    if name and config.database_url.startswith("postgresql"):
        options["connect_args"] = {"application_name": name}
    engine = connect(config, **options)
    try:
        if require_current:
            current, head = store.current_revision(engine), store.head_revision()
            if current != head:
                raise outdated(config, current, head)
        yield Services(config, Database(engine), Workflow(config))
    finally:
        engine.dispose()


def upgrade_database(config: Config, revision: str = "head") -> Migrated:
    """Create the database or migrate its schema to ``revision``; the revisions before and
    after. ``SchemaOutdated`` when this database user may not change the tables."""
    engine = connect(config)
    try:
        return migrate_schema(config, engine, revision)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class SchemaStatus:
    url: str  # password hidden
    current: str | None
    head: str | None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def newer(self) -> bool:
        """The database was migrated by a newer release: install it, do not upgrade."""
        return not store.known_revision(self.current)


def schema_status(config: Config) -> SchemaStatus:
    engine = connect(config)
    try:
        current = store.current_revision(engine)
    finally:
        engine.dispose()
    return SchemaStatus(shown_url(config), current, store.head_revision())


# --------------------------------------------------------------------------- users


@dataclass(frozen=True)
class UserLine:
    username: str
    full_name: str
    groups: list[str]
    manager: str | None
    active: bool


def add_user(services: Services, username: str, password: str, groups: Iterable[str], *,
             full_name: str = "", email: str | None = None, locale: str | None = None,
             manager: str | None = None) -> UserLine:
    """Create a user (``wf user add``: ``engine.app.user_admin.create``, recorded under the
    command line, with a lasting password); ``FormInvalid`` names every refusal (a name
    taken, an unknown manager, a password the policy refuses)."""
    added = user_admin.create(services, org.command_line(), username, password, full_name=full_name,
                              email=email, groups=groups, manager=manager, locale=locale, temporary=False)
    return UserLine(added.username, (full_name or "").strip(), list(added.groups), (manager or "").strip() or None,
                    True)


def set_password(services: Services, username: str, password: str) -> None:
    """Set a user's password (policy applied, ``FormInvalid`` otherwise; recorded as
    ``password_reset``); every session and token of theirs ends."""
    user_admin.reset_password(services, org.command_line(), username, password, temporary=False)


def set_manager(services: Services, username: str, manager: str | None) -> None:
    """Set or clear (``None``) a user's manager, the target of ``escalate: to: manager``;
    a change of the organisation chart (``engine.app.org.set_person``: checked whole,
    recorded as ``user_edited`` like the user pages' changes)."""
    org.set_person(services, org.command_line(), username, manager=manager or None)


def set_active(services: Services, username: str, active: bool) -> bool:
    """Activate or deactivate a user (recorded); returns whether anything changed.
    Deactivating ends the user's sessions and API tokens at once."""
    return user_admin.set_active(services, org.command_line(), username, active)


def revoke_sessions(services: Services, username: str) -> None:
    """Sign the user out everywhere: every session cookie and API token issued so far (recorded)."""
    user_admin.end_sessions(services, org.command_line(), username)


def unlock(services: Services, username: str) -> int:
    """Let a user name be tried again at once from every address (its failed sign-ins are
    forgotten; recorded when any were); ``NotFound`` for a name nobody has."""
    return user_admin.unlock(services, org.command_line(), username)


def list_users(services: Services) -> list[UserLine]:
    found = user_admin.search(services, org.command_line(), size=None)
    return [UserLine(u.username, u.full_name, list(u.groups), u.manager, u.active) for u in found.users]


# Readable names for the groups of the shipped config.yaml; other groups get their own name.
DEMO_NAMES = {
    "qa-inspectors": "检验员（演示）",
    "qa-supervisors": "质量主管（演示）",
    "repair-technicians": "维修技术员（演示）",
    "production": "生产部（演示）",
    "suppliers": "供应商（演示）",
    "admins": "管理员（演示）",
    "general-managers": "总经理（演示）",
    "deputy-general-managers": "副总经理（演示）",
    "marketing-managers": "营销中心总经理（演示）",
    "department-heads": "部门负责人（演示）",
    "document-control": "文控（演示）",
    "quality-dept": "质管部（演示）",
    "general-affairs": "综合业务部（演示）",
    "warehouse": "仓库（演示）",
    "service-desk": "客服/售后服务部（演示）",
    "service-managers": "服务主任（演示）",
    "after-sales-heads": "售后服务部部长（演示）",
    "service-technicians": "售后技术员（演示）",
    "export-business": "进出口公司业务管理部（演示）",
    "sales": "业务员（演示）",
    "sales-supply": "供销部（演示）",
    "customer-service-managers": "客服部经理（演示）",
    "customer-service": "客户服务部（演示）",
    "finance": "财务（演示）",
    "branch-service": "分公司售后人员（演示）",
    "branch-service-heads": "分公司售后负责人（演示）",
    "branch-managers": "分公司经理（演示）",
    "hq-engineers": "总部售后工程师（演示）",
    "rnd": "研发中心（演示）",
    "hr-admin": "行政人力中心（演示）",
    "materials": "物资中心/PMC（演示）",
    "marketing-office": "营销部内勤科（演示）",
    "sales-gm": "销售公司总经理（演示）",
    "sales-managers": "销售经理（演示）",
    "sales-directors": "销售总监（演示）",
    "management-committee": "管理委员会（演示）",
    "after-sales-leaders": "售后服务组长（演示）",
    "after-sales-group": "售后服务组（演示）",
    "project-management": "项目管理部（演示）",
    "commercial": "商务部（演示）",
    "vp-after-sales": "分管售后副总裁（演示）",
    "president-office": "总裁办（演示）",
    "contract-archive": "合同归档部门（演示）",
    "technical-dept": "技术部（演示）",
    "auditors": "审计员（演示）",
    "data-officers": "数据保护专员（演示）",
    "editors": "流程编辑（演示）",
    "doc-approvers": "文件批准人（演示）",
    "internal-auditors": "内部审核员（演示）",
    "purchasing": "采购（演示）",
}
DEMO_PASSWORD = "demo"


def demo_groups(roles: Mapping[str, Any] | None) -> list[str]:
    """Every group named in config ``roles``, in first-seen order."""
    seen: dict[str, None] = {}
    for groups in (roles or {}).values():
        for g in groups or []:
            seen.setdefault(str(g), None)
    return list(seen)


def create_demo_users(services: Services) -> list[tuple[str, str]]:
    """When the database has no users: one per group (user name = group, password ``demo``);
    ``(user name, full name)`` of each, or nothing when there were users already."""
    cfg = services.config
    made = []
    with services.database.reading() as session:
        if store.list_users(session):
            return []
    # One scrypt hash for all of them, outside the write lock: fifty hashes took 10 s of a
    # start-up. They share a published password, so a shared hash reveals nothing more.
    hashed = user_store.hash_password(DEMO_PASSWORD)
    with services.database.writing() as session:
        if store.list_users(session):
            return []
        # Groups that hold roles, then the auditors' and clearance groups (config 'audit:').
        audit = cfg.get("audit", default={}) or {}
        groups = demo_groups({**(cfg.get("roles", default={}) or {}),
                              "": [*audit.get("auditor_groups", []), *audit.get("clearance_groups", [])]})
        for group in groups:
            name = DEMO_NAMES.get(group) or group.replace("-", " ").replace("_", " ").title() + " (demo)"
            store.add_user(session, group, DEMO_PASSWORD, [group], full_name=name, password_hash=hashed)
            made.append((group, name))
    return made


# --------------------------------------------------------------------------- the audit record


def verify_audit(services: Services, *, batch_size: int = 5000, restored: bool = False,
                 files: bool = False) -> Report:
    """Recompute every instance's hash chain, then replay each instance's events and compare
    them with what pages read: its state, task rows and field index (read only: never takes
    the write lock). An instance whose chain broke is not compared again. The organisation
    chart's chain is checked too, and, when intact, the users table against it: who is a user,
    in which groups, active or not (``org.membership_findings``). ``restored``: the
    database is a backup restored (the restore drill): an anchored head it lacks because it was
    anchored after the backup's last event is counted apart (``anchored_later``), not broken.
    ``files``: also read every file a record holds from disk and compare it with its row (whose
    SHA-256 the record check compares with the trail): a photo replaced on disk is named."""
    from engine.app.audit import verify_records
    from engine.app.uploads import disk_problem
    from engine.store import anchor

    path = anchor_path(services.config)
    anchors = anchor.read(path)
    with services.database.reading() as session:
        report = store.verify_chains(session, batch_size=batch_size)
        # The organisation chart's chain has its head on the org_state row, not an instance.
        org_head = org_store.head_problem(session)
        if org_head:
            report.breaks.append(store.Break(org_store.ORG_CHAIN, 0, 0, "chain end mismatch", org_head))
        elif not any(b.instance_id == org_store.ORG_CHAIN for b in report.breaks):
            # Who holds which group is what every role check reads: the tables must be what
            # the (intact) trail accounts for.
            report.breaks.extend(store.Break(org_store.ORG_CHAIN, 0, 0, "users differ from the trail", found)
                                 for found in org_store.membership_findings(session))
        if path.exists():
            report.anchor_file, report.anchored = str(path), len(anchors.heads)
            held = store.last_event_at(session) if restored else None
            breaks, report.anchored_later, report.anchor_problems = anchor.verify(session, anchors, path,
                                                                                 held_until=held)
            report.breaks.extend(breaks)
            report.held_until = held
        broken = {b.instance_id for b in report.breaks}
        report.breaks.extend(verify_records(services.workflow, session, batch_size=max(1, batch_size // 10),
                                            skip=broken))
        if files:
            report.files = 0
            for row in store.bound_attachments(session):
                report.files += 1
                problem = disk_problem(row.storage_path, row.sha256, row.size)
                if problem is not None:
                    report.breaks.append(store.Break(row.instance_id, 0, 0, "file differs from its record",
                                                     f"file {row.id} ({row.filename!r}) at {row.storage_path}: "
                                                     f"{problem}"))
        return report


def anchor_path(config: Config) -> Path:
    """The append-only file of anchored chain heads (``audit.anchors``, ``WF_AUDIT_ANCHORS``)."""
    return config.path("audit", "anchors", default="var/audit-anchors.jsonl")


def anchor_audit(services: Services) -> tuple[int, Path]:
    """Append the chain heads that moved since the last anchor to the anchor file (read
    only on the database); the number of instances anchored and the file."""
    from engine.store import anchor

    path = anchor_path(services.config)
    with services.database.reading() as session:
        try:
            return anchor.anchor(session, path, services.now()), path
        except anchor.ForeignFile as exc:
            raise WorkflowError(str(exc)) from exc
        except ValueError as exc:
            raise WorkflowError(_("{error}; the anchor file must be repaired (or replaced from its copy) "
                                  "before anything is added to it", error=exc)) from exc


def verify_export(stream: IO[str], name: str) -> FileReport:
    """Check an export of ``export_audit`` offline, without a database."""
    from engine.store.audit_file import verify_lines

    return verify_lines(stream, name)


def export_audit(services: Services, *, procedure: str | None, since: datetime | None,
                 until: datetime | None, now: datetime) -> Iterator[str]:
    """The event trail as JSON Lines (header, events, footer), read in batches while the
    caller writes them out."""
    from engine.store.audit_file import export_lines
    from engine.store.audit_search import EventQuery, export_events

    query = EventQuery(procedure=procedure, since=since, until=until)
    with services.database.reading() as session:
        yield from export_lines(export_events(session, query), since=since, until=until,
                                procedure=procedure, now=now)


@dataclass(frozen=True)
class Reindexed:
    values: int
    versions: int
    kpi_days: int


def reindex(services: Services) -> Reindexed:
    """Rebuild the field index from every instance's data, then recount the KPI figures."""
    from engine.store.field_index import rebuild

    with services.database.writing() as session:
        ids = list(session.scalars(select(store.ProcedureVersion.id)))
        procedures = [services.workflow.runtime(session, v).procedure for v in ids]
        written = rebuild(session, procedures)
        days = services.workflow.refresh_kpis(session)
    return Reindexed(written, len(ids), days)


def refresh_kpis(services: Services, procedure_id: str | None = None) -> int:
    """Days of dashboard figures counted; ``NotFound`` for a procedure not installed."""
    with services.database.writing() as session:
        return services.workflow.refresh_kpis(session, procedure_id)


# --------------------------------------------------------------------------- the library


@dataclass(frozen=True)
class Installed:
    procedure_id: str
    version_id: int
    label: str  # the number people use: "2.0"
    content_hash: str  # the definition hash instances record
    created: bool


def install_procedures(services: Services, paths: Iterable[str | Path] | None = None) -> list[Installed]:
    """Register every changed procedure under ``paths`` (default: the configured folders) as
    a new version; ``DefinitionInvalid`` with every problem and nothing registered if any
    file is invalid."""
    # Parsed before the write transaction: the write lock is not held while files are read.
    if not paths:
        check_library_folders(services.config)
    library = services.workflow.read_library(list(paths or ()) or None)
    with services.database.writing() as session:
        registered = services.workflow.load_procedures(session, library=library)
        return [Installed(r.procedure_id, r.version_id,
                          version_store.label(store.get_version(session, r.version_id)),
                          r.content_hash, r.created) for r in registered]


@dataclass(frozen=True)
class VersionLine:
    procedure_id: str
    label: str
    status: str
    registered_at: datetime
    title: str
    running: int  # running instances of the procedure (all its versions)


def procedure_versions(services: Services, *, every: bool = False) -> list[VersionLine]:
    """Installed procedures by id: the newest version of each, or every version."""
    with services.database.reading() as session:
        rows = list(session.scalars(select(store.ProcedureVersion)
                                    .order_by(store.ProcedureVersion.procedure_id,
                                              store.ProcedureVersion.id)))
        by_proc: dict[str, list[Any]] = {}
        for row in rows:
            by_proc.setdefault(row.procedure_id, []).append(row)
        out = []
        for pid, found in by_proc.items():
            running = store.count_instances(session, pid, "running")
            out += [VersionLine(pid, version_store.label(r), r.status, r.registered_at, r.title, running)
                    for r in (found if every else found[-1:])]
        return out


def procedures_doc(config: Config) -> tuple[str, int]:
    """docs/procedures.md as ``wf procedures doc`` writes it, and the number of procedures;
    ``DefinitionInvalid`` when the configured library has problems."""
    lib = load_library([config.path("paths", "procedures", default="procedures"),
                        config.path("paths", "forms", default="forms")])
    lib.require_valid()
    return render(lib.procedures.values(), config), len(lib.procedures)


def export_procedures(services: Services, folder: str | Path) -> list[Path]:
    """Write the current published version of every procedure and its forms under
    ``folder/procedures`` and ``folder/forms``; the files written."""
    from engine.app.editor import Editor

    with services.database.reading() as session:
        return Editor(services.workflow).export(session, folder)


# --------------------------------------------------------------------------- calendars


def calendar_named(config: Config, name: str) -> tuple[Calendar, bool]:
    """The working calendar ``name`` of config ``calendars:`` and whether it is configured
    (``default`` falls back to the built-in calendar). ``NotFound`` names the known ones;
    ``WorkflowError`` says what is wrong with a configured calendar."""
    raw = config.calendar(name)
    if raw is None and name != "default":
        known = ", ".join(sorted(config.get("calendars", default={}) or {})) or _("none")
        raise NotFound(_("no calendar '{name}' in the configuration (known: {known}); "
                         "use one of them or add it under 'calendars:' in config.yaml", name=name, known=known))
    try:
        return Calendar.from_config(name, raw), raw is not None
    except ValueError as exc:
        raise WorkflowError(str(exc)) from None


# --------------------------------------------------------------------------- the worker


def worker(services: Services, *, batch: int = 100) -> Worker:
    """The worker loop on these services (``run_once`` or ``run``). It writes through the
    same write queue as the web requests, ``batch`` instances per transaction."""
    from engine.app.worker import Worker

    return Worker(services.workflow, services.database, batch=batch)


# --------------------------------------------------------------------------- groups the config uses


@dataclass(frozen=True)
class UnusedGroup:
    name: str
    near: str | None  # a group the configuration uses that it is probably a typo of


def role_groups(config: Config) -> list[str]:
    """The groups config.yaml's ``roles:`` give roles to, by name."""
    return sorted(demo_groups(config.get("roles", default={}) or {}))


def unused_groups(config: Config, groups: Iterable[str]) -> list[UnusedGroup]:
    """Those of ``groups`` that give nothing: no role of ``roles:`` uses them and they are not
    the auditors' or clearance groups of ``audit:`` (``access.special_groups``).
    Any name may be a group, so this is a warning's matter, not a refusal's; and without any
    ``roles:`` (a bare configuration) there is nothing to compare with: none."""
    import difflib

    if not role_groups(config):
        return []
    special = special_groups(config)
    used = set(role_groups(config)) | special.auditors | special.cleared
    folded = {u.casefold(): u for u in sorted(used)}
    out = []
    for group in dict.fromkeys(g.strip() for g in groups if g and g.strip()):
        if group not in used:
            near = difflib.get_close_matches(group.casefold(), list(folded), n=1, cutoff=0.75)
            out.append(UnusedGroup(group, folded[near[0]] if near else None))
    return out
