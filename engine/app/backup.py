"""``wf backup`` and ``wf restore``, and the restore drill auditors ask for
(``wf backup --verify``: the backup restored into a scratch database, whose audit trail is
then verified there).

SQLite: SQLite's online backup (a consistent copy taken while the server keeps writing).
PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore``, which must be installed (the
PostgreSQL client tools of the server's major version).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from engine.config import Config
from engine.errors import WorkflowError
from engine.i18n import _
from engine.store import head_revision, known_revision, maintenance

if TYPE_CHECKING:
    from engine.store.audit import Report


class DrillRefused(WorkflowError):
    """The restore drill could not make its scratch database (the backup itself is fine)."""


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int
    kind: str  # "sqlite" or "pg_dump"


def _url(config: Config) -> URL:
    from engine.app.services import database_url

    return database_url(config)


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise WorkflowError(_("an in-memory SQLite database cannot be backed up; configure a file in database.url"))
    return Path(url.database)


def _libpq(url: URL) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise WorkflowError(_("'{name}' is not installed; install the PostgreSQL client tools "
                              "(e.g. apt install postgresql-client) of your server's version", name=name))
    return found


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        detail = done.stderr.strip()[-500:] or _("exit code {code}", code=done.returncode)
        raise WorkflowError(_("{tool} failed: {detail}", tool=what, detail=detail))


def backup(config: Config, target: str | os.PathLike[str]) -> Backup:
    """Write a consistent copy of the configured database to ``target`` (an existing file is
    refused: a backup never overwrites another)."""
    target = Path(target)
    if target.exists():
        raise WorkflowError(_("{path} already exists; choose a new file name (backups are never overwritten)",
                              path=target))
    url = _url(config)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_file(url)
        if not source.exists():
            raise WorkflowError(_("there is no database at {path}; check database.url", path=source))
        partial = target.with_name(target.name + ".partial")
        # The online backup reads under one read transaction (WAL: writers go on) and the
        # copy appears under its name only once it is complete.
        with _writing(target, partial):
            target.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
                src.backup(dst)
            partial.rename(target)
        return Backup(target, target.stat().st_size, "sqlite")
    with _writing(target, target):
        target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "postgresql":
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target), _libpq(url)], "pg_dump")
        return Backup(target, target.stat().st_size, "pg_dump")
    raise WorkflowError(_("backups of {kind} databases are not supported; use SQLite or PostgreSQL",
                          kind=url.get_backend_name()))


@contextmanager
def _writing(target: Path, partial: Path | None) -> Iterator[None]:
    """Writing ``target``: a folder that cannot be made or written, or a disk that fills up,
    is one sentence naming the place (not sqlite3's "unable to open database file"), and a
    half-written ``partial`` file is removed."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        if partial is not None and partial.exists():
            partial.unlink(missing_ok=True)
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WorkflowError(_("cannot write {path} ({error}); choose a folder this user may write to "
                              "that has room for the database", path=target, error=detail)) from None


# How each kind of backup begins: an SQLite database file, a pg_dump custom-format archive.
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


def _check_source(source: Path, url: URL) -> None:
    """The backup exists and is of the configured database's kind: a SQLite file does not
    restore into PostgreSQL (pg_restore said "not a valid archive"), nor a dump into SQLite."""
    if not source.is_file():
        raise WorkflowError(_("there is no backup at {path}; check the path", path=source))
    with source.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    backend = url.get_backend_name()
    if backend == "postgresql" and head.startswith(SQLITE_MAGIC):
        raise WorkflowError(_("{path} is a SQLite backup; restore it into SQLite "
                              "(a sqlite:/// URL in WF_DATABASE_URL or database.url)", path=source))
    if backend == "sqlite" and head.startswith(PG_DUMP_MAGIC):
        raise WorkflowError(_("{path} is a PostgreSQL backup (pg_dump); restore it into PostgreSQL "
                              "(a postgresql+psycopg:// URL in WF_DATABASE_URL or database.url)", path=source))
    if backend == "postgresql":
        _check_pg_dump(source, url)


# "Dumped from database version: 15.20 (Debian ...)" and "Dumped by pg_dump version: ...",
# as ``pg_restore --list`` prints an archive's header.
_DUMPED = re.compile(r"^;\s+Dumped (from database|by pg_dump) version: (\d+)(\.\d+)?", re.MULTILINE)


def _check_pg_dump(source: Path, url: URL) -> None:
    """What pg_restore would meet, read from the archive alone before anything is replaced
    (as ``_check_sqlite_backup`` does for SQLite): an archive format this pg_restore cannot
    read, a dump by a newer pg_dump or of a newer PostgreSQL server than the ones here, and
    a database a newer release of QualityFlow migrated (a schema revision this program does
    not know, which every command would refuse once restored)."""
    tool = _tool("pg_restore")
    listed = subprocess.run([tool, "--list", str(source)], capture_output=True, text=True)
    if listed.returncode != 0:
        error = listed.stderr.strip().splitlines()[-1] if listed.stderr.strip() else ""
        found = re.search(r"unsupported version \(([\d.]+)\)", error)
        if found:
            raise WorkflowError(_(
                "{path} was written by a newer pg_dump (archive format {format}) than this machine's "
                "pg_restore ({mine}) can read; restore it with the PostgreSQL client tools of the version "
                "that wrote it (or newer) into a server of that version; nothing was changed",
                path=source, format=found.group(1), mine=_major(tool)))
        raise WorkflowError(_("{path} is not a pg_dump backup pg_restore can read ({error}); check the file",
                              path=source, error=error or _("exit code {code}", code=listed.returncode)))
    dumped = {kind: int(major) for kind, major, _minor in _DUMPED.findall(listed.stdout)}
    mine = _major(tool)
    by = dumped.get("by pg_dump")
    if by is not None and mine is not None and by > mine:
        raise WorkflowError(_(
            "{path} was written by pg_dump {by}, newer than this machine's pg_restore {mine}; install the "
            "PostgreSQL client tools {by} (or newer) here and restore again; nothing was changed",
            path=source, by=by, mine=mine))
    server = _server_major(url)
    origin = dumped.get("from database")
    if origin is not None and server is not None and origin > server:
        raise WorkflowError(_(
            "{path} is a dump of a PostgreSQL {origin} database, and the database {name} is on PostgreSQL "
            "{server}, which cannot take it; restore it into a server of version {origin} or newer; nothing "
            "was changed", path=source, origin=origin, name=url.database, server=server))
    revision = _pg_dump_revision(tool, source)
    if not known_revision(revision):
        raise WorkflowError(_(
            "{path} is a backup of a newer release's database (schema revision {revision}; this program "
            "needs {head}); restore it with that release, or choose a backup this release made; "
            "nothing was changed", path=source, revision=revision, head=head_revision()))


def _major(tool: str) -> int | None:
    """The major version of a PostgreSQL client program ("pg_restore (PostgreSQL) 15.20 ...")."""
    done = subprocess.run([tool, "--version"], capture_output=True, text=True)
    found = re.search(r"\)\s+(\d+)", done.stdout)
    return int(found.group(1)) if found else None


def _server_major(url: URL) -> int | None:
    """The major version of the PostgreSQL server at ``url`` (None when it does not answer:
    the restore then says so in its own words)."""
    from engine.store import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            info = conn.dialect.server_version_info
    except DBAPIError:
        return None
    finally:
        engine.dispose()
    return int(info[0]) if info else None


def _pg_dump_revision(tool: str, source: Path) -> str | None:
    """The schema revision in the dump's ``alembic_version`` table, read from the archive
    (``pg_restore`` writing SQL to standard output connects to no database)."""
    done = subprocess.run([tool, "--data-only", "--table=alembic_version", "--file=-", str(source)],
                          capture_output=True, text=True)
    lines = done.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line:
            row = lines[i + 1].strip() if i + 1 < len(lines) else "\\."
            return None if row in ("\\.", "") else row
    return None


def restore(config: Config, source: str | os.PathLike[str], *, replace: bool = False) -> None:
    """Put the backup ``source`` in place of the configured database. Stop the server and
    the workers first. A database that has data is only replaced with ``replace``."""
    source = Path(source)
    url = _url(config)
    _check_source(source, url)
    if url.get_backend_name() == "sqlite":
        _check_sqlite_backup(source)
        target = _sqlite_file(url)
        if target.exists() and target.stat().st_size and not replace:
            raise WorkflowError(_("{path} already holds a database; add --replace to overwrite it "
                                  "(stop the server and the workers first)", path=target))
        if maintenance.sqlite_in_use(target):  # its write-ahead log must not be pulled from under it
            raise WorkflowError(_("{path} is open in another program (a server or a worker still running?); "
                                  "stop the server and the workers first (Ctrl-C, or SIGTERM to `wf serve` "
                                  "and `wf worker`), then restore; nothing was changed", path=target))
        with _writing(target, None):
            target.parent.mkdir(parents=True, exist_ok=True)
            for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
                leftover.unlink(missing_ok=True)
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
                src.backup(dst)
        return
    if url.get_backend_name() == "postgresql":
        if maintenance.has_tables(url) and not replace:
            raise WorkflowError(_("the database {name} already has tables; add --replace to overwrite them "
                                  "(stop the server and the workers first)", name=url.database))
        others = maintenance.other_sessions(url)
        if others:
            raise WorkflowError(_("the database {name} has {count} other connection(s) open (a server or a worker "
                                  "still running?); stop the servers and the workers first (SIGTERM to `wf serve` "
                                  "and `wf worker`), then restore; nothing was changed", name=url.database,
                                  count=others))
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--exit-on-error",
              "--dbname", _libpq(url), str(source)], "pg_restore")
        return
    raise WorkflowError(_("restores of {kind} databases are not supported; use SQLite or PostgreSQL",
                          kind=url.get_backend_name()))


def _check_sqlite_backup(path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            try:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.OperationalError:  # no such table: a database never migrated
                row = None
    except sqlite3.DatabaseError as exc:
        raise WorkflowError(_("{path} is not an SQLite backup ({error}); check the file", path=path, error=exc)) from None
    if ok != "ok":
        raise WorkflowError(_("{path} is damaged ({problem}); use another backup", path=path, problem=ok))
    revision = row[0] if row else None
    if not known_revision(revision):  # restored, every command would refuse it: refuse it first
        raise WorkflowError(_(
            "{path} is a backup of a newer release's database (schema revision {revision}; this program "
            "needs {head}); restore it with that release, or choose a backup this release made; "
            "nothing was changed", path=path, revision=revision, head=head_revision()))


@contextmanager
def _scratch(config: Config) -> Iterator[Config]:
    """A configuration like ``config`` on an empty scratch database, dropped afterwards."""
    url = _url(config)
    raw = copy.deepcopy(config.raw)
    if url.get_backend_name() == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="wf-restore-drill-"))
        try:
            raw.setdefault("database", {})["url"] = f"sqlite:///{folder / 'scratch.db'}"
            yield Config(raw=raw, root=config.root)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    with ExitStack() as stack:
        try:
            scratch_url = stack.enter_context(maintenance.scratch_database(url, "wf_restore_drill"))
        except DBAPIError as exc:
            orig = exc.orig
            if (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) != "42501":
                raise
            user = url.username or _("(default)")
            raise DrillRefused(_(
                "the restore drill needs a scratch database, and the database user {user} may not create "
                "databases (CREATEDB); give it the right (as the superuser: ALTER ROLE {user} CREATEDB;) or "
                "run the drill as the database's owner that has it (WF_DATABASE_URL with the owner's name)",
                user=user)) from None
        raw.setdefault("database", {})["url"] = scratch_url.render_as_string(hide_password=False)
        yield Config(raw=raw, root=config.root)


def verify(config: Config, source: str | os.PathLike[str]) -> Report:
    """The restore drill: restore ``source`` into a scratch database and verify its audit
    trail there (the configured database is not touched)."""
    from engine.app import admin

    _check_source(Path(source), _url(config))  # before a scratch database is made for it
    with _scratch(config) as scratch:
        restore(scratch, source)
        with admin.opened(scratch) as services:
            return admin.verify_audit(services, restored=True)
