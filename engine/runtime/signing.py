"""What an electronic signature covers, and the hash that binds it (21 CFR 11.70).

A signature given at a step covers the data recorded so far: the signed step's own data and
everything recorded before it. Its record carries ``data_hash``, the SHA-256 of the
canonical JSON of the instance's ``data`` at the moment of signing, so a value changed later
(by a correction, or by a hand in the database) no longer matches what was signed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: The meaning of a corrector's signature.
CORRECTION = "更正"
#: Added to a step's meaning when the signer rejects: a rejection must never read as approval.
REJECTED = "（驳回）"


# Built once: ``json.dumps`` with these options builds an encoder on every call, and a
# signed step hashes the whole instance's data (engine_bench: a fifth of a step's CPU).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def data_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``data`` (sorted keys, no spaces, UTF-8),
    the same canonical form the audit chain hashes."""
    return hashlib.sha256(_CANONICAL.encode(data).encode("utf-8")).hexdigest()


def covering(state: Mapping[str, Any], step: str) -> list[str]:
    """The tasks whose signatures cover the data recorded at ``step``: those signed when or
    after it was last recorded (the start form at the instance's start). Times are ISO text
    of one format, so they compare as text."""
    tasks = state["tasks"]
    items = list(tasks.values() if isinstance(tasks, Mapping) else tasks)  # the API's view lists them
    if step == "start":
        recorded = state["started_at"]
    else:
        times = [t["completed_at"] for t in items
                 if t["step"] == step and t["status"] == "done" and t.get("completed_at")]
        if not times:
            return []
        recorded = max(times)
    found = [t for t in items
             if t.get("signature") and (t.get("completed_at") or "") >= recorded]
    return sorted((t["id"] for t in found), key=lambda tid: int(tid[1:]))
