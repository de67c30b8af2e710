"""What every use case needs, opened once per process: the configuration, the database and
the ``Workflow`` with its installed procedures."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from engine.app.database import Database
from engine.app.service import Clock, Workflow, utcnow
from engine.config import Config
from engine.errors import WorkflowError
from engine.i18n import _
from engine.store import (
    current_revision,
    head_revision,
    known_revision,
    maintenance,
    make_engine,
)
from engine.store.db import upgrade_from


@dataclass
class Services:
    config: Config
    database: Database
    workflow: Workflow

    def now(self) -> datetime:
        """The server's clock (injectable in tests), as the worker sees it."""
        return self.workflow.clock()


class SchemaOutdated(WorkflowError):
    """The database's schema is not the one this program needs (and this program may not,
    or does not, bring it up to date)."""

    code = "schema_outdated"


def shown_url(config: Config) -> str:
    """The configured database URL with its password hidden (for messages)."""
    try:
        return make_url(config.database_url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL at all: shown as typed, a password in it hidden
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", config.database_url)


class DatabaseUnreachable(WorkflowError):
    """The configured database URL cannot be read, or the database does not answer."""

    code = "database_unreachable"


def _url_setting() -> str:
    return "WF_DATABASE_URL" if os.environ.get("WF_DATABASE_URL") else _("database.url in config.yaml")


class DatabaseMissing(DatabaseUnreachable):
    """The configured SQLite file is not there, and its folder shows that one was in use."""

    code = "database_missing"


def connect(config: Config, **options: object) -> Engine:
    """The engine of the configured database, once it has answered: a URL that is not one
    (``postgres://``, a bare file name) or a database that does not answer is refused in
    one sentence naming the setting to fix, instead of a driver's traceback. A SQLite file
    that is gone from a folder showing it was in use is not made anew (``DatabaseMissing``)."""
    try:
        engine = make_engine(_existing_or_new(config), **options)
    except ArgumentError as exc:  # also NoSuchModuleError: an unknown dialect such as postgres://
        raise _unusable(config, exc) from None
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseUnreachable(_(
            "The database {url} does not answer ({error}); check that it is running and reachable "
            "from this machine, and that {setting} names it", url=shown_url(config),
            error=_first_line(exc), setting=_url_setting())) from None
    return engine


def _existing_or_new(config: Config) -> str:
    """The configured URL, unless it names a SQLite file that is missing where signs show a
    database was in use: connecting would make a new, empty one there, and every record
    would seem lost (the file moved, deleted, or a disk not mounted). The first start, in a
    folder with no such signs, makes it as before; ``Config.new_database`` makes it anyway."""
    url = config.database_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # refused by make_engine, in connect's words
    name = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or name in ("", ":memory:") or name.startswith("file:") \
            or config.new_database:
        return url
    path = Path(name)
    if path.exists():
        return url
    signs = _signs_of_use(config, path)
    if signs:
        backups = _backups(config, path.parent)
        raise DatabaseMissing(_(
            "The database file {path} is missing, but {folder} shows a database was in use there ({signs}); "
            "nothing was created. Put the file back (or restore a backup: `wf restore {backup}`), or, to "
            "start over with a new, empty database, run `wf db upgrade --new-database` once",
            path=path, folder=path.parent, signs=", ".join(str(s) for s in signs),
            backup=backups[-1] if backups else "BACKUP")) from None
    return url


def _signs_of_use(config: Config, path: Path) -> list[Path]:
    """What in the database's own folder shows that a database was kept there: the file's
    companions (its write-ahead log and lock files, the write queue's and the worker's
    marks), backups, and the key, uploads and anchors the server keeps beside it. Only that
    folder: a new database elsewhere (a copy, a test) is not judged by this installation's var/."""
    folder = path.parent.resolve()
    found = [Path(f"{path}{end}") for end in ("-wal", "-shm", ".writers", ".worker")]
    found = [p for p in found if p.exists()]
    found += _backups(config, folder)[-1:]
    for keys, default in ((("paths", "secret_file"), "var/secret_key"), (("audit", "anchors"), "var/audit-anchors.jsonl")):
        kept = config.path(*keys, default=default)
        if kept.parent.resolve() == folder and kept.is_file() and kept.stat().st_size:
            found.append(kept)
    uploads = config.path("paths", "uploads", default="var/uploads")
    if uploads.parent.resolve() == folder and uploads.is_dir() and any(p.is_file() for p in uploads.rglob("*")):
        found.append(uploads)
    return found


def _backups(config: Config, folder: Path) -> list[Path]:
    """The backups ``wf backup`` wrote (by default) into ``folder``'s backup folder, oldest first."""
    kept = config.path("paths", "backups", default="var/backup")
    if kept.parent.resolve() != folder.resolve() or not kept.is_dir():
        return []
    return sorted(p for p in kept.glob("workflow-*") if p.is_file() and p.suffix in (".db", ".dump"))


def _unusable(config: Config, exc: ArgumentError) -> DatabaseUnreachable:
    return DatabaseUnreachable(_(
        "The database URL {url} ({setting}) cannot be used: {error}; write it as "
        "sqlite:///var/workflow.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE",
        url=shown_url(config), setting=_url_setting(), error=str(exc).splitlines()[0]))


def database_url(config: Config) -> URL:
    """The configured database URL, parsed; one that is not a URL is refused as ``connect`` does."""
    try:
        return make_url(config.database_url)
    except ArgumentError as exc:
        raise _unusable(config, exc) from None


def outdated(config: Config, current: str | None, head: str | None) -> SchemaOutdated:
    """The refusal of a schema at ``current`` where this program needs ``head``; a revision
    this program does not know is one a newer release migrated to, which no upgrade here
    can undo: its words say to run that release instead."""
    if not known_revision(current):
        return SchemaOutdated(_(
            "The database {url} is at schema revision {current}, which this program does not know: "
            "a newer release of QualityFlow migrated it (this program needs {head}). Install that "
            "release here (docs/operations.md, \"Upgrading to a new release\"); `wf db upgrade` "
            "cannot take a database back to an older release.",
            url=shown_url(config), current=current, head=head))
    return SchemaOutdated(_(
        "The database {url} is at schema revision {current}, this program needs {head}; "
        "run `wf db upgrade` first.", url=shown_url(config), current=current or _("none"), head=head))


@dataclass(frozen=True)
class Migrated:
    """What a migration did: the schema revision before and after (equal: nothing to do)."""

    before: str | None
    after: str | None


def migrate_schema(config: Config, engine: Engine, revision: str = "head") -> Migrated:
    """Bring the schema to ``revision`` (Alembic, in one transaction on PostgreSQL). A
    database user who may not change the tables (the server's role of docs/operations.md
    owns none) gets ``SchemaOutdated`` naming the owner's command, and nothing changed: the
    refused migration is rolled back whole."""
    before = current_revision(engine)
    if not known_revision(before):  # Alembic would stop with "Can't locate revision"
        raise outdated(config, before, head_revision())
    try:
        return Migrated(*upgrade_from(engine, revision))
    except DBAPIError as exc:
        if _sqlstate(exc) != "42501":  # insufficient_privilege: "must be owner of table ..."
            raise
        head = head_revision() if revision == "head" else revision
        raise SchemaOutdated(_(
            "The database {url} is at schema revision {current}, this program needs {head}; "
            "run `wf db upgrade` first as the owner of its tables: the database user {user} "
            "may not change them ({error}).", url=shown_url(config), current=before or _("none"), head=head,
            user=engine.url.username or _("(default)"), error=_first_line(exc))) from None


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _first_line(exc: DBAPIError) -> str:
    """The server's message without the driver's context lines and SQL."""
    return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__


def check_library_folders(config: Config) -> None:
    """The configured procedures and forms folders exist; else one sentence naming the
    setting that points there (the library's own problem, ``PATH:1:1: no such file or
    folder``, did not say which setting to correct)."""
    for keys, env, default in ((("paths", "procedures"), "WF_PROCEDURES_DIR", "procedures"),
                               (("paths", "forms"), "WF_FORMS_DIR", "forms")):
        folder = config.path(*keys, default=default)
        if not folder.is_dir():
            setting = env if os.environ.get(env) else _("{key} in config.yaml", key=".".join(keys))
            raise WorkflowError(_("the folder {path} does not exist; correct {setting} to name the folder of the "
                                  "{what} (the release ships procedures/ and forms/ beside config.yaml)",
                                  path=folder, setting=setting, what=keys[1]))


def open_services(config: Config, *, clock: Clock = utcnow, migrate: bool = True) -> Services:
    """Connect to the configured database, bring its schema up to date and install the
    procedure library (new versions only; a library already installed costs one read).
    A setting the rules cannot read (``change_control.distinct``) stops it here, and so
    does a schema this database user may not migrate (``SchemaOutdated``, one line)."""
    from engine.app.change_control import distinct_level

    distinct_level(config)
    check_library_folders(config)
    engine = connect(config)
    if migrate:
        try:
            migrate_schema(config, engine)
        except BaseException:
            engine.dispose()
            raise
    database = Database(engine)
    workflow = Workflow(config, clock=clock)
    library = workflow.read_library()
    with database.writing() as session:
        workflow.load_procedures(session, library=library)
    return Services(config, database, workflow)


@dataclass
class Readiness:
    """What ``/readyz`` answers: each check ``ok`` or what is wrong, in words for operators."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(v == "ok" for v in self.checks.values())


@cache
def _head() -> str | None:
    return head_revision()


# Free space below which /readyz says the server will soon refuse writes (config
# ``server.min_free_mb``): a day of steps, photos and a WAL checkpoint fit in far less.
MIN_FREE_MB = 100


def storage_free(services: Services) -> dict[str, int]:
    """Free bytes on the disks the server writes to: the SQLite database's file (a
    PostgreSQL server's disk is not visible from here) and the uploads folder, by their
    configured paths."""
    places = [services.config.path("paths", "uploads", default="var/uploads")]
    url = services.database.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        places.insert(0, Path(str(url.database)))
    out: dict[str, int] = {}
    for place in places:
        probe = place
        while not probe.exists() and probe != probe.parent:  # not made yet: its disk is the parent's
            probe = probe.parent
        try:
            out[str(place)] = shutil.disk_usage(probe).free
        except OSError:
            continue
    return out


def readiness(services: Services, *, worker_max_age: float | None, min_free: int = MIN_FREE_MB * 2**20) -> Readiness:
    """Whether this server can serve: the database answers, its schema is the one this
    program needs, the disks it writes to have ``min_free`` bytes free, and (unless
    ``worker_max_age`` is None) a worker finished a pass within that many seconds, so
    deadlines and notifications are not silently stalled."""
    out = Readiness()
    problem = services.database.ping()
    out.checks["database"] = "ok" if problem is None else f"unreachable ({problem})"
    if problem is not None:
        return out
    current = current_revision(services.database.engine)
    out.checks["schema"] = (
        "ok" if current == _head()
        else f"at revision {current}, which a newer release made (this program needs {_head()}); "
             "run that release" if not known_revision(current)
        else f"at revision {current or 'none'}, this program needs {_head()}; run `wf db upgrade`")
    room = [(where, free) for where, free in storage_free(services).items() if free < min_free]
    out.checks["storage"] = "ok" if not room else "; ".join(
        f"only {free // 2**20} MB free on the disk of {where} (at least {min_free // 2**20} MB wanted, "
        "server.min_free_mb): make room there before writes are refused" for where, free in room)
    if worker_max_age is not None:
        age = services.database.worker_seen()
        out.checks["worker"] = (
            "no worker has run; start `wf worker` or `wf serve --worker`" if age is None
            else "ok" if age <= worker_max_age
            else f"last seen {age:.0f} s ago (more than {worker_max_age:g} s); check the worker's log")
    return out


@dataclass(frozen=True)
class Figures:
    """The gauges of ``/metrics``, read from the database when scraped."""

    open_tasks: int
    overdue_tasks: int
    worker_lag: float  # seconds the oldest due timer has waited for a worker (0: none waiting)
    worker_seen: float | None  # seconds since a worker last finished a pass
    deliveries: dict[str, int]


def figures(services: Services) -> Figures | None:
    """Open and overdue tasks, how far the worker is behind, deliveries by status; None when
    the database does not answer (``/metrics`` then still answers, saying so)."""
    now = services.now()
    try:
        with services.database.reading() as session:
            found = maintenance.figures(session, now)
    except DBAPIError:
        return None
    lag = (now - found.oldest_due_timer).total_seconds() if found.oldest_due_timer else 0.0
    return Figures(found.open_tasks, found.overdue_tasks, max(0.0, lag), services.database.worker_seen(),
                   found.deliveries)
