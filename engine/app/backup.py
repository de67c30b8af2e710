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
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, make_url

from engine.config import Config
from engine.errors import WorkflowError
from engine.i18n import _
from engine.store import maintenance

if TYPE_CHECKING:
    from engine.store.audit import Report


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int
    kind: str  # "sqlite" or "pg_dump"


def _url(config: Config) -> URL:
    return make_url(config.database_url)


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
    target.parent.mkdir(parents=True, exist_ok=True)
    url = _url(config)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_file(url)
        if not source.exists():
            raise WorkflowError(_("there is no database at {path}; check database.url", path=source))
        partial = target.with_name(target.name + ".partial")
        # The online backup reads under one read transaction (WAL: writers go on) and the
        # copy appears under its name only once it is complete.
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
        partial.rename(target)
        return Backup(target, target.stat().st_size, "sqlite")
    if url.get_backend_name() == "postgresql":
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target), _libpq(url)], "pg_dump")
        return Backup(target, target.stat().st_size, "pg_dump")
    raise WorkflowError(_("backups of {kind} databases are not supported; use SQLite or PostgreSQL",
                          kind=url.get_backend_name()))


def restore(config: Config, source: str | os.PathLike[str], *, replace: bool = False) -> None:
    """Put the backup ``source`` in place of the configured database. Stop the server and
    the workers first. A database that has data is only replaced with ``replace``."""
    source = Path(source)
    if not source.is_file():
        raise WorkflowError(_("there is no backup at {path}; check the path", path=source))
    url = _url(config)
    if url.get_backend_name() == "sqlite":
        _check_sqlite_backup(source)
        target = _sqlite_file(url)
        if target.exists() and target.stat().st_size and not replace:
            raise WorkflowError(_("{path} already holds a database; add --replace to overwrite it "
                                  "(stop the server and the workers first)", path=target))
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
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--exit-on-error",
              "--dbname", _libpq(url), str(source)], "pg_restore")
        return
    raise WorkflowError(_("restores of {kind} databases are not supported; use SQLite or PostgreSQL",
                          kind=url.get_backend_name()))


def _check_sqlite_backup(path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise WorkflowError(_("{path} is not an SQLite backup ({error}); check the file", path=path, error=exc)) from None
    if ok != "ok":
        raise WorkflowError(_("{path} is damaged ({problem}); use another backup", path=path, problem=ok))


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
    with maintenance.scratch_database(url, "wf_restore_drill") as scratch_url:
        raw.setdefault("database", {})["url"] = scratch_url.render_as_string(hide_password=False)
        yield Config(raw=raw, root=config.root)


def verify(config: Config, source: str | os.PathLike[str]) -> Report:
    """The restore drill: restore ``source`` into a scratch database and verify its audit
    trail there (the configured database is not touched)."""
    from engine.app import admin

    with _scratch(config) as scratch:
        restore(scratch, source)
        with admin.opened(scratch) as services:
            return admin.verify_audit(services)
