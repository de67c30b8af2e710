"""Bring a stored instance state of an earlier format up to ``STATE_FORMAT``.

Stored rows are not rewritten in bulk: ``Runtime.apply`` upgrades the state it is given and
returns the current format, which the store saves with the command's events. An instance
thus moves to the current format the next time anything happens to it, and one that never
changes again keeps the format it was written in (readers of stored states call ``upgrade``
too, or read only keys every format has).

Formats, and the function that leaves each:

1. The first release. ``corrections`` appeared with the first correction only, and
   ``joins`` and ``links`` were read with a default. ``_from_1``.
2. ``corrections``, ``joins`` and ``links`` are always present, so every key of
   ``InstanceState`` but a task's own optional ones is there to read.

To change the format: raise ``STATE_FORMAT`` in ``state.py``, add ``_from_N`` below (a
function of the stored JSON, not of a procedure: a state is upgraded before anyone knows
which version of its procedure will run it) and register it in ``_STEPS``, and add a state
of the old format, as the old code wrote it, to ``tests/runtime/states/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from engine.errors import CommandRejected
from engine.i18n import _
from engine.runtime.state import STATE_FORMAT, InstanceState

__all__ = ["upgrade"]


def _from_1(state: dict[str, Any]) -> dict[str, Any]:
    state["joins"] = state.get("joins") or {}
    state["links"] = state.get("links") or []
    state["corrections"] = state.get("corrections") or []
    return state


# Format N -> the function that turns it into N + 1, on a shallow copy it may change in place
# (it must copy any nested value it changes: the caller's state stays as it was).
_STEPS: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_1}


def upgrade(state: Mapping[str, Any]) -> InstanceState:
    """``state`` in the current format: the same dict when it already is, else a new one
    (``state`` itself is never changed). Raises ``CommandRejected`` for a format this code
    does not know: newer (written by a newer server) or not a format at all."""
    fmt = state.get("format")
    if fmt == STATE_FORMAT:
        # The runtime copies what it changes with dict methods, so any other mapping is copied.
        return cast(InstanceState, state if type(state) is dict else dict(state))
    if type(fmt) is not int or fmt not in _STEPS:
        newer = type(fmt) is int and fmt > STATE_FORMAT
        why = _("a newer server wrote it; run that version") if newer else _("it is not one this server ever wrote")
        raise CommandRejected(_("instance state format {format} is not supported (expected {expected}): {why}",
                                format=repr(fmt), expected=STATE_FORMAT, why=why))
    out = dict(state)
    while fmt < STATE_FORMAT:
        out = _STEPS[fmt](out)
        fmt += 1
        out["format"] = fmt
    return cast(InstanceState, out)
