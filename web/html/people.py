"""People to pick: what a person field (and "add an approver") suggests as a name is typed,
for a company whose users are too many to send with every page (``engine.app.people``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from engine.app import people
from web.db import services
from web.html.auth import login_required

bp = Blueprint("people", __name__)


@bp.get("/people/suggest")
@login_required
def suggest():
    """``?q=TEXT`` -> ``[{"user", "name", "department"}]``: active users whose user name or
    full name contains the text, best matches first. Any signed-in user may ask, as any of
    them may already fill a person field with any active user's name."""
    found = people.suggestions(services(), request.args.get("q", ""))
    response = jsonify(found)
    response.headers["Cache-Control"] = "private, max-age=60"
    return response
