"""Lock-out after failed sign-ins, counted in the database.

A key (``web:NAME|ADDRESS`` for the sign-in page, ``api:NAME`` for the token endpoint)
is locked once ``limit`` failures followed each other with less than ``window`` between
them, until ``window`` after the last one. A success clears the key. Counting in the
database makes the limit the same however many server processes answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from engine.store.tables import SignInFailure

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def locked_until(session: Session, key: str, now: datetime, *, limit: int,
                 window: timedelta) -> datetime | None:
    row = session.get(SignInFailure, key)
    if row is None or row.failures < limit or now >= row.last_at + window:
        return None
    return row.last_at + window


def failed(session: Session, key: str, now: datetime, *, window: timedelta) -> int:
    """Count a failure (in the caller's write transaction); returns the failures in a row."""
    row = session.get(SignInFailure, key, with_for_update=True, populate_existing=True)
    if row is None:
        try:
            with session.begin_nested():
                session.add(SignInFailure(key=key, failures=1, last_at=now))
            return 1
        except IntegrityError:  # another process counted the first failure meanwhile
            row = session.get(SignInFailure, key, with_for_update=True, populate_existing=True)
    row.failures = row.failures + 1 if now - row.last_at < window else 1
    row.last_at = now
    session.flush()
    return row.failures


def succeeded(session: Session, key: str) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.key == key))


def counted(session: Session, key: str) -> bool:
    """Whether failures are counted for ``key`` (so a success has something to clear)."""
    return session.get(SignInFailure, key) is not None
