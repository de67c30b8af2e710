"""The organisation chart page: the department tree with heads and members and whom each
member reports to, for everyone signed in; the CSV import (administrators) and export. The
rules — who may change it, what a valid chart is — are ``engine.app.org``'s."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from engine.app import org
from engine.errors import DefinitionInvalid
from web.db import services
from web.html.auth import login_required
from web.i18n import _
from web.oversight import signed_in_reader

bp = Blueprint("org", __name__)


@bp.get("/org")
@login_required
def show():
    reader = signed_in_reader()
    return render_template("org.html", chart=org.view(services(), reader),
                           changes=org.history(services(), reader))


@bp.get("/org/export.csv")
@login_required
def export():
    return Response(org.export_csv(services()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=org.csv"})


@bp.post("/org/import")
@login_required
def import_csv():
    upload = request.files.get("file")
    data = upload.read() if upload and upload.filename else b""
    name = (upload.filename if upload and upload.filename else "org.csv")
    try:
        done = org.import_csv(services(), signed_in_reader(), data, name)
    except DefinitionInvalid as exc:
        for p in exc.problems:
            flash(str(p), "error")
        flash(_("Nothing was imported; correct the lines above and upload the file again."), "error")
        return redirect(url_for("org.show"))
    flash(_("Imported {departments} departments and {users} users.", departments=done.departments,
            users=done.users), "ok")
    return redirect(url_for("org.show"))
