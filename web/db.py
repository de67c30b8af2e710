"""Database sessions for requests: one transaction per use case, owned by the web layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session

from engine.service import Workflow


def workflow() -> Workflow:
    return current_app.extensions["workflow"]


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit when the block succeeds, roll back when it raises (the error goes on up)."""
    with current_app.extensions["sessions"].begin() as session:
        yield session


@contextmanager
def reading() -> Iterator[Session]:
    """A session for reads only; nothing is committed. On SQLite it begins DEFERRED, so a
    page that only reads never takes the write lock."""
    engine = current_app.extensions["db_engine"].execution_options(sqlite_begin="DEFERRED")
    session = Session(bind=engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()
