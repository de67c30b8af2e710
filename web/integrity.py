"""The API's answer of a record's integrity check; its wording (``audit.integrity_words``) is
the record page's and the dossier's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.app.audit import integrity_words
from web.i18n import _

if TYPE_CHECKING:
    from engine.app.audit import ChainCheck


def integrity_answer(check: ChainCheck | None) -> dict[str, Any]:
    """The API's ``integrity`` of an instance: ``ok`` and the events verified; when broken,
    whether it is the record shown (``record``: the trail itself is intact) and the
    sentence the record page shows. When the check could not run (``checked`` false) it is
    not ok either: a program that copies records on ``ok`` must not copy an unverified one."""
    if check is None:
        return {"ok": False, "checked": False, "events": None, "record": None,
                "message": unverified_words()}
    out: dict[str, Any] = {"ok": check.ok, "checked": True, "events": check.events}
    if not check.ok:
        out.update(record=check.record, message=integrity_words(check))
    return out


def unverified_words() -> str:
    """What the record page and the API say when the integrity check could not run."""
    return _("NOT VERIFIED: whether this record is what its audit trail proves could not be checked just now "
             "(the server log says why). Do not rely on it until it is checked: open it again, or ask an "
             "administrator to run “wf audit verify”.")
