"""The field index: searchable form values per instance, written with each step.

A procedure declares which ``STEP.FIELD`` values are searchable (its ledger columns,
``index`` and KPI fields; see ``engine/records.py``). Every write of an instance carries
the statements of :func:`writes`, which bring the instance's rows in line with its current
data in the same transaction: only fields of steps the events touched are compared (the
state before the step against the state after), so a step that records nothing
searchable costs no statement at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.language.records import FIRST
from engine.store.prepared import Prepared
from engine.store.tables import FieldIndex, KpiSource

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.language.procedure import Procedure

MAX_VALUE = 200
# Events that record or change form data, and where the step's data sits in the state.
_DATA_EVENTS = {"instance:started", "task:completed", "task:approved", "task:rejected",
                "data:corrected", "approval:decided"}


def text_of(value: Any) -> str | None:
    """The indexed text of a form value (its first ``MAX_VALUE`` characters); None for empty
    values, lists and objects."""
    text = whole_text_of(value)
    return text[:MAX_VALUE] if text is not None else None


def whole_text_of(value: Any) -> str | None:
    """``text_of`` without the cut: what a ledger shows of an indexed value."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return text if text != "" else None


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


_TABLE = FieldIndex.__table__
_DELETE = Prepared(delete(_TABLE).where(_TABLE.c.instance_id == bindparam("b_instance"),
                                        _TABLE.c.key == bindparam("b_key")))
_COLUMNS = ["instance_id", "key", "procedure_id", "value"]
# An upsert: rows written under other declarations (``wf audit reindex``) are overwritten,
# never a reason to refuse the step.
_INSERT = Prepared({
    name: dialect_insert(_TABLE).on_conflict_do_update(
        index_elements=["instance_id", "key"],
        set_={"value": dialect_insert(_TABLE).excluded.value,
              "procedure_id": dialect_insert(_TABLE).excluded.procedure_id})
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))}, _COLUMNS)
# A first value, once recorded, is never replaced (that is its point).
_INSERT_FIRST = Prepared({"sqlite": sqlite_insert(_TABLE).on_conflict_do_nothing(),
                          "postgresql": pg_insert(_TABLE).on_conflict_do_nothing()}, _COLUMNS)


def writes(before: Mapping[str, Any] | None, state: Mapping[str, Any],
           events: Iterable[Mapping[str, Any]], procedures: Iterable[Any]) -> list:
    """The statements (for ``prepared.batch``) that bring the instance's index rows from
    ``before`` (None: a new instance) in line with ``state``; the step sends them with its
    own writes, so no index row is read.

    ``procedures`` are the compiled versions the caller knows (``Runtime`` objects or
    ``Procedure`` objects); their declarations say which fields are indexed.
    """
    steps = {e.get("step") or "start" for e in events if e.get("type") in _DATA_EVENTS}
    if not steps:
        return []
    procs = [getattr(p, "procedure", p) for p in procedures]
    keys, first = keys_of(procs, state["procedure"])
    touched = [k for k in keys if k.partition(".")[0] in steps]
    if not touched:
        return []
    instance_id, procedure_id = state["id"], state["procedure"]
    old = rows_for(before, touched) if before else {}
    new = rows_for(state, touched)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    gone = [{"b_instance": instance_id, "b_key": k} for k in changed if k in old]
    added = [{"instance_id": instance_id, "key": k, "procedure_id": procedure_id,
              "value": new[k]} for k in changed if k in new]
    firsts = [{"instance_id": instance_id, "key": k + FIRST, "procedure_id": procedure_id,
               "value": new[k]} for k in sorted(new) if k in first]
    return [(stmt, rows) for stmt, rows in ((_DELETE, gone), (_INSERT, added),
                                            (_INSERT_FIRST, firsts)) if rows]


def rebuild(session: Session, procedures: Iterable[Procedure], *, batch_size: int = 1000) -> int:
    """Recompute the whole index from the instances' states (after adding a ledger column to
    a procedure, or for records written before the index existed). Returns rows written."""
    from engine.store.tables import Instance

    procs = list(procedures)
    inst = Instance.__table__
    table = FieldIndex.__table__
    session.execute(delete(table))
    # The dashboard's field counts were taken from the old index: recount every procedure.
    session.execute(delete(KpiSource.__table__))
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
