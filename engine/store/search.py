"""Finding records by what people remember of them: the record number (流水号), or any text
of an indexed field (customer, serial number, fault...), matched inside the value.

Reads the field index and the instances table only (never the JSON of states or events);
the caller passes the procedures the reader may read and the keys it may search.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select

from engine.store.ledger_query import escape_like
from engine.store.tables import FieldIndex, Instance

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["Found", "find"]


@dataclass(frozen=True)
class Found:
    instance_id: str
    serial: str | None
    procedure_id: str
    status: str
    started_at: datetime
    key: str | None    # the indexed field that matched (STEP.FIELD); None for the number
    value: str | None


def find(session: Session, text: str, keys: Mapping[str, Iterable[str]], *, limit: int = 50) -> list[Found]:
    """Instances of the procedures in ``keys`` (procedure id -> searchable index keys) whose
    number starts with ``text`` or whose searchable indexed values contain it; newest first,
    one hit per instance (its number, else the first matching field)."""
    if not keys:
        return []
    inst, fi = Instance.__table__, FieldIndex.__table__
    pattern = "%" + escape_like(text) + "%"
    cols = (inst.c.id, inst.c.serial, inst.c.procedure_id, inst.c.status, inst.c.started_at)
    by_number = (select(*cols).where(inst.c.procedure_id.in_(list(keys)),
                                     or_(inst.c.serial.like(escape_like(text.upper()) + "%", escape="\\"),
                                         inst.c.id == text))
                 .order_by(inst.c.started_at.desc()).limit(limit))
    hits: dict[str, Found] = {}
    for r in session.execute(by_number):
        hits[r.id] = Found(r.id, r.serial, r.procedure_id, str(r.status.value), r.started_at, None, None)
    wanted = [and_(fi.c.procedure_id == pid, fi.c.key.in_(sorted(ks))) for pid, ks in keys.items() if ks]
    if wanted and len(hits) < limit:
        by_text = (select(*cols, fi.c.key, fi.c.value).join(fi, fi.c.instance_id == inst.c.id)
                   .where(or_(*wanted), fi.c.value.like(pattern, escape="\\"))
                   .order_by(inst.c.started_at.desc(), inst.c.id, fi.c.key).limit(limit * 4))
        for r in session.execute(by_text):
            if r.id not in hits and len(hits) < limit:
                hits[r.id] = Found(r.id, r.serial, r.procedure_id, str(r.status.value), r.started_at, r.key, r.value)
    return sorted(hits.values(), key=lambda f: (f.started_at, f.instance_id), reverse=True)
