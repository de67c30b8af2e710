"""Change control of procedures (ISO 9001 7.5.3), run by the shipped
``procedure-change-control`` procedure on this engine.

The editor starts an instance with ``request_data``: the draft's version id, the change
reason and the draft's content hash, which every later signature (review, approval) covers
through its ``data_hash``. The service calls ``check_decider`` before every approval decision
(neither the person who sent the change nor the draft's author may review or approve it; the
procedure itself keeps the approver apart from the reviewer with ``separate_from``) and
``after_decision`` in the same transaction, which publishes the draft when the instance ends
at its ``published`` step, only if the draft's texts still hash to the approved content, or
returns it to draft when the change is rejected. A change request is never corrected
(``refuse_correction``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import Conflict, NotPermitted
from engine.i18n import _
from engine.store import versions
from engine.store.repo import content_hash

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.runtime.commands import Actor
    from engine.store.tables import ProcedureVersion

PROCEDURE_ID = "procedure-change-control"
PUBLISHED_STEP = "published"
AUTHOR_ROLE, REVIEWER_ROLE, APPROVER_ROLE = "change_author", "change_reviewer", "change_approver"


def request_data(row: ProcedureVersion, reason: str) -> dict[str, Any]:
    """The start data of a change request for draft ``row``: its ``content_hash`` is
    recomputed from the stored texts, so the approvals bind to what will be published."""
    return {"procedure": row.procedure_id, "version": versions.label(row), "version_id": row.id,
            "reason": reason, "content_hash": content_hash(row.source, row.forms or {}, row.procedure_id)}


def author_of(session: Session, state: Mapping[str, Any]) -> str | None:
    """The author (last editor) of the draft a change request sends, or None."""
    version_id = ((state.get("data") or {}).get("start") or {}).get("version_id")
    return versions.get_version(session, int(version_id)).registered_by if version_id is not None else None


def check_decider(session: Session, procedure_id: str, state: Mapping[str, Any], actor: Actor) -> None:
    """Refuse a review or approval of a change by the person who sent it or by the author of
    the draft (four eyes: ISO 9001 7.5.2 review and approval by someone other than the author)."""
    if procedure_id != PROCEDURE_ID:
        return
    if actor.user == state.get("started_by"):
        raise NotPermitted(
            f"{actor.user} sent this change for approval and so may not review or approve it; "
            "another member of the reviewer or approver group must decide (document control)")
    author = author_of(session, state)
    if author and actor.user == author:
        raise NotPermitted(_("{user} wrote this draft and so may not review or approve it; another "
                             "member of the reviewer or approver group must decide (document control)",
                             user=actor.user))


def refuse_correction(procedure_id: str) -> None:
    """A change request's data is fixed once submitted: what was reviewed and approved is what
    the record shows. A wrong request is rejected and sent again, never corrected."""
    if procedure_id == PROCEDURE_ID:
        raise NotPermitted(_("a change request cannot be corrected once submitted; reject it and "
                             "send the draft again with the right details"))


def after_decision(session: Session, state: Mapping[str, Any]) -> None:
    """Publish or return the draft once the change-control instance has ended."""
    if state.get("procedure") != PROCEDURE_ID or state.get("status") == "running":
        return
    start = (state.get("data") or {}).get("start") or {}
    version_id = start.get("version_id")
    if version_id is None:
        return  # started by hand, not from the editor: nothing to publish
    row = versions.get_version(session, int(version_id))
    if row.change_instance != state.get("id"):
        return  # only the run the editor started for this draft may publish it
    path = state.get("path") or []
    if state.get("status") == "completed" and path and path[-1] == PUBLISHED_STEP:
        approved = start.get("content_hash")
        actual = content_hash(row.source, row.forms or {}, row.procedure_id)
        if approved is not None and actual != approved:
            # The texts changed after the change was sent (only a hand in the database can do
            # that): publishing them would publish what nobody approved. The approval is refused.
            raise Conflict(_("draft {version} no longer has the content that was sent for approval "
                             "({approved}…, now {actual}…); reject this change and send the draft again",
                             version=start.get("version"), approved=approved[:12], actual=actual[:12]))
        versions.publish(session, row.id)
    else:
        versions.back_to_draft(session, row.id)
