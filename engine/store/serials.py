"""Readable record numbers (流水号): ``PREFIX-YYYYMM-NNNN``, numbered per prefix and local month.

The number is taken in the start's own write transaction with one upsert that returns the
new count, so two starts never get the same number (the row lock serialises them on
PostgreSQL, the write lock on SQLite) and a start that fails rolls its number back: the
numbers of a month have no gaps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.store.tables import Instance, SerialCounter

__all__ = ["instance_by_serial", "next_serial", "serials_of"]

_T = SerialCounter.__table__


def _upsert(dialect: str) -> Any:
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(_T).values(
        prefix=bindparam("prefix"), period=bindparam("period"), last=1)
    return ins.on_conflict_do_update(index_elements=["prefix", "period"],
                                     set_={"last": _T.c.last + 1}).returning(_T.c.last)


# Built once, with bound parameters, so SQLAlchemy compiles each dialect's statement once
# (a statement rebuilt with literal values per start cost about 1 ms of CPU on every start).
_UPSERT = {dialect: _upsert(dialect) for dialect in ("sqlite", "postgresql")}


def next_serial(session: Session, prefix: str, period: str) -> str:
    """The next number of ``prefix`` in ``period`` (``YYYYMM``), e.g. ``ASI-202612-0007``."""
    stmt = _UPSERT[session.get_bind().dialect.name]
    n = int(session.execute(stmt, {"prefix": prefix, "period": period}).scalar_one())
    return f"{prefix}-{period}-{n:04d}"


def instance_by_serial(session: Session, serial: str) -> str | None:
    """The id of the instance numbered ``serial`` (case-insensitive), or None."""
    return session.execute(select(Instance.id).where(Instance.serial == serial.strip().upper())).scalar()


def serials_of(session: Session, instance_ids: set[str]) -> dict[str, str]:
    """The record numbers of ``instance_ids`` (those that have one), in one read."""
    if not instance_ids:
        return {}
    rows = session.execute(select(Instance.id, Instance.serial).where(Instance.id.in_(instance_ids)))
    return {i: serial for i, serial in rows if serial}
