"""Engines, sessions and schema migrations.

SQLite (the embedded default) gets WAL, foreign keys and a busy timeout on every connection,
and its transactions begin with ``BEGIN IMMEDIATE`` so that concurrent writers queue for the
write lock instead of failing half-way with "database is locked". A session that only reads
can opt out with ``engine.execution_options(sqlite_begin="DEFERRED")``.
"""

from __future__ import annotations

import math
import select
import sqlite3
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from engine import json_codec
from engine.store.tables import Base

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import Connection
    from sqlalchemy.engine import URL

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up for this application (see the module docstring)."""
    url = make_url(url)
    kwargs.setdefault("json_serializer", json_codec.dumps)  # orjson, exact (engine/json_codec.py)
    kwargs.setdefault("json_deserializer", json_codec.loads)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if url.get_backend_name() == "postgresql":
        options: dict[str, Any] = {"pool_size": 5, "max_overflow": 10, "pool_recycle": 1800}
        options.update(kwargs)
        engine = create_engine(url, **options)
        if not options.get("pool_pre_ping"):
            _ping_when_in_doubt(engine)
        return engine
    return create_engine(url, **kwargs)


# A pooled connection is pinged when it has been idle this long, or when the server has
# written to it while it sat in the pool (see _ping_when_in_doubt).
PING_AFTER_IDLE = 30.0


def _ping_when_in_doubt(engine: Engine) -> None:
    """Check a PostgreSQL connection as it leaves the pool, without a round trip when there
    is no reason to doubt it.

    ``pool_pre_ping`` sends ``SELECT 1`` at every checkout: a round trip per transaction, a
    fifth of those of a step and more than one per API request. A server never writes to an
    idle client unless it is closing the connection (restart, ``pg_terminate_backend``,
    idle timeout: it says so, or the socket reads end-of-file), so a connection whose socket
    has nothing to read, used within ``PING_AFTER_IDLE`` seconds, goes out unpinged; any
    other is pinged and, if that fails, replaced (``DisconnectionError``: the pool connects
    afresh), as with ``pool_pre_ping``.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["wf_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("wf_idle_since", None)
        try:
            readable = bool(select.select([dbapi_connection.fileno()], [], [], 0)[0])
        except (OSError, ValueError, engine.dialect.loaded_dbapi.Error):
            readable = True  # no socket left: the ping below fails and the pool reconnects
        if not readable and since is not None and time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"the pooled connection is gone ({exc}); connecting afresh") from exc


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module; _on_begin below emits our own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # With synchronous=NORMAL only a checkpoint syncs to disk; checkpointing every 10,000
        # pages (about 40 MB of WAL) instead of 1,000 takes most of that wait off the steps.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                       "wal_autocheckpoint=10000", "busy_timeout=5000"):
            cursor.execute(f"PRAGMA {pragma}")
        try:  # SQLite builds without the math functions (before 3.35, or compiled out)
            cursor.execute("SELECT ln(1)")
        except sqlite3.OperationalError:
            dbapi_connection.create_function("ln", 1, math.log, deterministic=True)
            dbapi_connection.create_function("floor", 1, math.floor, deterministic=True)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
            raise ValueError(f"sqlite_begin must be IMMEDIATE, DEFERRED or EXCLUSIVE, not {mode!r}")
        # Straight to the driver: this runs before every write transaction.
        conn.connection.dbapi_connection.execute(f"BEGIN {mode}")

    return engine


def serialise(session: Session, name: str) -> None:
    """Hold the lock ``name`` until the session's transaction ends, so that writers of the
    same thing (version numbers of one procedure, KPI days of one procedure) take turns. On
    PostgreSQL an advisory lock; SQLite's write transactions are serial already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": zlib.crc32(name.encode())})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (the caller owns the transaction)."""
    return sessionmaker(engine, expire_on_commit=False)


def create_schema(engine: Engine) -> None:
    """Create every table straight from the models. Tests only; real databases use upgrade()."""
    Base.metadata.create_all(engine)


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """Alembic configured from the installed package, without an alembic.ini."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(target: str | URL | Engine, revision: str = "head") -> str | None:
    """Run ``alembic upgrade`` on a database; an empty database gets the whole schema.

    Returns the revision the database is at afterwards.
    """
    return upgrade_from(target, revision)[1]


def upgrade_from(target: str | URL | Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """``upgrade``, returning the revision before (read once this migration holds the lock,
    so of two run at once the second sees what the first did) and after."""
    from alembic import command

    seen: list[str | None] = []
    after = _migrate(target, lambda config: command.upgrade(config, revision), seen)
    return (seen[0] if seen else None), after


def downgrade(target: str | URL | Engine, revision: str) -> str | None:
    """Run ``alembic downgrade`` to ``revision``; returns the revision the database is at."""
    from alembic import command

    return _migrate(target, lambda config: command.downgrade(config, revision))


#: The advisory lock every migration on PostgreSQL holds for its transaction: two
#: `wf db upgrade` (or servers starting, which migrate too) at once take turns instead of
#: both creating the same tables (the second failed with a duplicate key in pg_type).
MIGRATION_LOCK = 0x5746_4D49  # "WFMI"


def _migrate(target: str | URL | Engine, run: Callable[[AlembicConfig], None],
             seen: list[str | None] | None = None) -> str | None:
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # A migration that rebuilds a table (SQLite cannot drop a constraint) drops
                # the old copy, which enforced foreign keys would refuse while other tables
                # point at it. SQLite's own recipe: keys off outside the transaction, checked
                # before the commit, on again afterwards.
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
                    if seen is not None:
                        from alembic.runtime.migration import MigrationContext

                        seen.append(MigrationContext.configure(connection).get_current_revision())
                    run(alembic_config(connection))
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"the migration left dangling references: {broken[:5]}")
            finally:
                if sqlite:
                    connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
        return current_revision(engine)
    finally:
        if engine is not target:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revision(revision: str | None) -> bool:
    """Whether this code ships ``revision`` (a database a newer release migrated is at one
    it does not: no ``upgrade`` can start from there)."""
    if revision is None:
        return True
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
