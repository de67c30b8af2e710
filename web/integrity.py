"""What a record's integrity check found, in the reader's language: one wording for the
record page, the dossier and the API's instance answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine import i18n
from web.i18n import _

if TYPE_CHECKING:
    from engine.app.audit import ChainCheck


def integrity_words(check: ChainCheck) -> str:
    """The integrity line in the reader's language: the intact chain's summary, else what is
    broken, where (the event, the step and field, the task, the column) and what the reader
    is to do about it. The dossier prints it always, the record page when broken."""
    if check.ok:
        return "{}: {}".format(_("intact"), _("{n} events verified; the chain ends in {head}", n=check.events,
                                              head=check.head[:16] + "…"))
    finding = i18n.shown(check.message, check.finding)
    if check.record:
        return _("BROKEN: the record shown differs from its audit trail: {finding}. This page does not show what "
                 "was recorded: go by the timeline (its events are intact) and ask an administrator to restore "
                 "the record from a backup.", finding=finding)
    return _("BROKEN: {finding}. This record cannot be trusted: contact an administrator and check it against "
             "a backup.", finding=finding)


def integrity_answer(check: ChainCheck | None) -> dict[str, Any] | None:
    """The API's ``integrity`` of an instance: ``ok`` and the events verified; when broken,
    whether it is the record shown (``record``: the trail itself is intact) and the
    sentence the record page shows; None when the check could not run."""
    if check is None:
        return None
    out: dict[str, Any] = {"ok": check.ok, "events": check.events}
    if not check.ok:
        out.update(record=check.record, message=integrity_words(check))
    return out
