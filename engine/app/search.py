"""The search box everyone has: a record by its number (流水号), or by any text of the fields
its procedure indexes (customer, serial number, fault...), found inside the value.

Only procedures the reader may read are searched, and never a field marked sensitive
(``x-sensitive``): a search must not become a way to read back a masked value by guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from engine.app.access import Reader, readable
from engine.app.audit import field_title, step_title
from engine.app.masking import across_versions
from engine.errors import QueryInvalid
from engine.i18n import _
from engine.language.english import titled
from engine.language.records import FIRST
from engine.store import search as store_search

if TYPE_CHECKING:
    from engine.app.services import Services

__all__ = ["Hit", "MAX_TEXT", "search"]

MAX_TEXT = 100


@dataclass(frozen=True)
class Hit:
    instance_id: str
    serial: str | None
    procedure_id: str
    procedure: str       # its title
    status: str
    started_at: datetime
    matched: str         # what matched, as people name it: 流水号, or "步骤 · 字段"
    value: str


def search(services: Services, reader: Reader, text: str, *, limit: int = 50) -> list[Hit]:
    """Records the reader may read whose number starts with ``text`` or whose indexed,
    non-sensitive field values contain it; newest first. Empty text finds nothing."""
    text = text.strip()
    if not text:
        return []
    if len(text) > MAX_TEXT:
        raise QueryInvalid(_("search for at most {n} characters", n=MAX_TEXT))
    with services.database.reading() as s:
        procs = {pid: proc for pid, (proc, _v) in readable(services.workflow, s, reader).items()}
        keys: dict[str, set[str]] = {}
        for pid, proc in procs.items():
            hidden = across_versions(services.workflow, s, proc)
            keys[pid] = {k for k in proc.records.indexed
                         if not k.endswith(FIRST) and k not in hidden and not _under(k, hidden)}
        found = store_search.find(s, text, keys, limit=limit)
    out = []
    for f in found:
        proc = procs[f.procedure_id]
        if f.key is None:
            matched, value = _("Record number"), f.serial or f.instance_id
        else:
            sid, _dot, name = f.key.partition(".")
            matched, value = f"{step_title(proc, sid)} · {field_title(proc, sid, name)}", f.value or ""
        out.append(Hit(f.instance_id, f.serial, f.procedure_id, titled(proc), f.status, f.started_at,
                       matched, value))
    return out


def _under(key: str, hidden: frozenset[str]) -> bool:
    """Whether ``key`` lies below a sensitive value (a column of a sensitive table...)."""
    return any(key.startswith(h + ".") or key.startswith(h + "[") for h in hidden)
