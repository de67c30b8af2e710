"""Failed sign-ins, counted in the database.

A key (``web:NAME|ADDRESS`` for the sign-in page, ``api:NAME|ADDRESS`` for the token
endpoint, ``web@ADDRESS`` for every name tried from one address...) counts the failures
that followed each other with less than ``window`` between them; ``engine.app.people.Door``
turns the count into a delay. A success clears the key. Counting in the database makes the
limit the same however many server processes answer. (A rate-limiting library such as
``limits`` keeps its counters in memory, Redis or memcached, none of which every server of
an install shares; the database is.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from engine.store.ledger_query import escape_like
from engine.store.tables import SignInFailure

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
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


def failures(session: Session, key: str) -> tuple[int, datetime] | None:
    """(failures in a row, time of the last) for ``key``, or None."""
    row = session.execute(select(SignInFailure.failures, SignInFailure.last_at)
                          .where(SignInFailure.key == key)).first()
    return (row[0], row[1]) if row is not None else None


def fold_name(username: str) -> str:
    """A user name as the keys hold it: the doors count "Zhang.San " and "zhang.san" as one
    name. No user name is longer than 100 characters; a longer one is counted by its start,
    so the key fits its column (an over-long name gave 500 on PostgreSQL)."""
    return username.strip().lower()[:100]


def _name_keys(username: str, kinds: Iterable[str]) -> ColumnElement[bool]:
    """The keys of user name ``username`` at the doors ``kinds``, from any address."""
    t = SignInFailure.__table__
    name = fold_name(username)
    return or_(*(or_(t.c.key == f"{k}:{name}", t.c.key.like(escape_like(f"{k}:{name}|") + "%", escape="\\"))
                 for k in kinds))


def failures_of_name(session: Session, username: str, kinds: Iterable[str], *, since: datetime) -> int:
    """The failures in a row of user name ``username`` at the doors ``kinds`` over every
    address, counting only series whose last failure was after ``since`` (the lock-out
    window: an older series locks nobody out, and the next failure starts a new one)."""
    t = SignInFailure.__table__
    return int(session.execute(select(func.coalesce(func.sum(t.c.failures), 0))
                               .where(_name_keys(username, kinds), t.c.last_at > since)).scalar() or 0)


def clear_name(session: Session, username: str, kinds: Iterable[str]) -> int:
    """Forget the failures of user name ``username`` at every door of ``kinds`` and from
    every address, old series too (``wf user unlock``); returns how many keys were cleared."""
    return session.execute(delete(SignInFailure.__table__).where(_name_keys(username, kinds))).rowcount or 0
