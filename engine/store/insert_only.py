"""The database refuses to change or remove audit events: triggers on ``events``.

Installed by migration ``0013_records14_insert_only`` (``wf db upgrade``). The server only
ever INSERTs events; an UPDATE or DELETE (and on PostgreSQL a TRUNCATE) of the table fails
with the message below, whoever sends it: a bug, a script, or a person at a SQL prompt.

A trigger stops everyone who cannot change the schema. The table's owner (on SQLite anyone
with write access to the file) can drop it; so on PostgreSQL the server runs as a role that
owns nothing (``docs/operations.md``: a least-privilege role), and ``wf audit verify``
remains the check that catches what a schema owner did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

MESSAGE = "audit events are insert-only: UPDATE and DELETE of events are refused (issue 14)"

_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
_SQLITE_DROP = ["DROP TRIGGER IF EXISTS events_no_update", "DROP TRIGGER IF EXISTS events_no_delete"]

_PG = [
    "CREATE OR REPLACE FUNCTION events_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege'; END $$",
    "DROP TRIGGER IF EXISTS events_insert_only ON events",
    "CREATE TRIGGER events_insert_only BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION events_insert_only()",
    "DROP TRIGGER IF EXISTS events_no_truncate ON events",
    "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION events_insert_only()",
]
_PG_DROP = ["DROP TRIGGER IF EXISTS events_insert_only ON events",
            "DROP TRIGGER IF EXISTS events_no_truncate ON events",
            "DROP FUNCTION IF EXISTS events_insert_only()"]


def install(conn: Connection) -> None:
    """Create the triggers (idempotent)."""
    for stmt in _PG if conn.dialect.name == "postgresql" else _SQLITE:
        conn.execute(text(stmt))


def remove(conn: Connection) -> None:
    """Drop the triggers: the downgrade, and the one step a schema owner takes before a
    deliberate rewrite (which ``wf audit verify`` then reports)."""
    for stmt in _PG_DROP if conn.dialect.name == "postgresql" else _SQLITE_DROP:
        conn.execute(text(stmt))
