"""The insider of the tamper tests: someone who owns the schema, drops the insert-only
triggers, rewrites the audit trail with raw SQL and puts the triggers back, so that only
``wf audit verify`` can tell."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from engine.store import insert_only

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection


@contextmanager
def insider(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction on which events may be updated and deleted."""
    with engine.begin() as conn:
        insert_only.remove(conn)
        yield conn
        insert_only.install(conn)
