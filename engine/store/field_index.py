"""The field index: searchable form values per instance, written with each step.

A procedure declares which ``STEP.FIELD`` values are searchable (its ledger columns,
``index`` and KPI fields; see ``engine/records.py``). After every write of an instance
the service calls :func:`record`, which brings the instance's rows in line with its
current data in the same transaction: only fields of steps the events touched are
compared, so a step that records nothing searchable costs no statement at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from engine.records import FIRST
from engine.store.tables import FieldIndex

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.procedure import Procedure

MAX_VALUE = 200
# Events that record or change form data, and where the step's data sits in the state.
_DATA_EVENTS = {"instance:started", "task:completed", "task:approved", "task:rejected",
                "data:corrected"}


def text_of(value: Any) -> str | None:
    """The indexed text of a form value; None for empty values, lists and objects."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return text[:MAX_VALUE] if text != "" else None


def value_at(data: Mapping[str, Any], key: str) -> Any:
    """``data[STEP][FIELD...]`` for ``STEP.FIELD.SUB``; None when any part is missing."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def keys_of(procedures: Iterable[Procedure], procedure_id: str) -> tuple[frozenset[str], frozenset[str]]:
    """(indexed keys, first-value keys) of every known version of ``procedure_id`` together,
    so that a field stays searchable for instances pinned to an older version."""
    keys: set[str] = set()
    first: set[str] = set()
    for proc in procedures:
        if proc.id == procedure_id:
            keys |= proc.records.indexed
            first |= proc.records.first_keys
    return frozenset(keys), frozenset(first)


def rows_for(state: Mapping[str, Any], keys: Iterable[str], first: Iterable[str] = ()) -> dict[str, str]:
    """``{key: text}`` of the indexed values in ``state`` (first-value keys as ``KEY@first``)."""
    data = state.get("data") or {}
    out: dict[str, str] = {}
    for key in keys:
        text = text_of(value_at(data, key))
        if text is not None:
            out[key] = text
    for key in first:
        if key in out:
            out[key + FIRST] = out[key]
    return out


def record(session: Session, state: Mapping[str, Any], events: Iterable[Mapping[str, Any]],
           procedures: Iterable[Any]) -> None:
    """Bring the instance's index rows in line with ``state`` after a write.

    ``procedures`` are the compiled versions the caller knows (``Runtime`` objects or
    ``Procedure`` objects); their declarations say which fields are indexed.
    """
    steps = {e.get("step") or "start" for e in events if e.get("type") in _DATA_EVENTS}
    if not steps:
        return
    procs = [getattr(p, "procedure", p) for p in procedures]
    keys, first = keys_of(procs, state["procedure"])
    touched = [k for k in keys if k.partition(".")[0] in steps]
    if not touched:
        return
    instance_id = state["id"]
    wanted = rows_for(state, touched, [k for k in touched if k in first])
    table = FieldIndex.__table__
    names = set(touched) | {k + FIRST for k in touched if k in first}
    if any(e.get("type") == "instance:started" for e in events):
        have: dict[str, str] = {}  # a new instance has no rows yet: no need to ask
    else:
        have = dict(session.execute(select(table.c.key, table.c.value).where(
            table.c.instance_id == instance_id, table.c.key.in_(sorted(names)))).all())
    # A first value, once recorded, is never replaced (that is its point).
    for key in [k for k in wanted if k.endswith(FIRST) and k in have]:
        wanted[key] = have[key]
    stale = sorted(k for k, v in have.items() if wanted.get(k) != v)
    if stale:
        session.execute(delete(table).where(table.c.instance_id == instance_id,
                                            table.c.key.in_(stale)))
    new = [{"instance_id": instance_id, "key": k, "procedure_id": state["procedure"], "value": v}
           for k, v in sorted(wanted.items()) if have.get(k) != v]
    if new:
        session.execute(insert(table), new)


def rebuild(session: Session, procedures: Iterable[Procedure], *, batch_size: int = 1000) -> int:
    """Recompute the whole index from the instances' states (after adding a ledger column to
    a procedure, or for records written before the index existed). Returns rows written."""
    from engine.store.tables import Instance

    procs = list(procedures)
    inst = Instance.__table__
    table = FieldIndex.__table__
    session.execute(delete(table))
    written, last = 0, ""
    while True:
        rows = session.execute(select(inst.c.id, inst.c.state).where(inst.c.id > last)
                               .order_by(inst.c.id).limit(batch_size)).all()
        if not rows:
            return written
        out = []
        for row in rows:
            keys, first = keys_of(procs, row.state["procedure"])
            for key, value in rows_for(row.state, keys, first).items():
                out.append({"instance_id": row.id, "key": key,
                            "procedure_id": row.state["procedure"], "value": value})
        if out:
            session.execute(insert(table), out)
        written += len(out)
        last = rows[-1].id
