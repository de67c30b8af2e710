"""Change control of procedures (ISO 9001 7.5.3), run by the shipped
``procedure-change-control`` procedure on this engine.

The editor starts an instance with the draft's version id and the change reason; the
service calls ``check_decider`` before every approval decision (the author may neither
review nor approve their own change) and ``after_decision`` in the same transaction, which
publishes the draft when the instance ends at its ``published`` step, or returns it to
draft when the change is rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import NotPermitted
from engine.i18n import _
from engine.store import versions

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.runtime.commands import Actor

PROCEDURE_ID = "procedure-change-control"
PUBLISHED_STEP = "published"
AUTHOR_ROLE, REVIEWER_ROLE, APPROVER_ROLE = "change_author", "change_reviewer", "change_approver"


def check_decider(procedure_id: str, state: Mapping[str, Any], actor: Actor) -> None:
    """Refuse a review or approval of a change by the person who sent it."""
    if procedure_id == PROCEDURE_ID and actor.user == state.get("started_by"):
        raise NotPermitted(
            f"{actor.user} sent this change for approval and so may not review or approve it; "
            "another member of the reviewer or approver group must decide (document control)")


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
        versions.publish(session, row.id)
    else:
        versions.back_to_draft(session, row.id)
