"""Try it as a click-through (``engine.app.try_it``): the page shows the start form, then each
open task's generated form with an "act as" role and user, the clock, and the diagram with the
path taken. Every click posts the run so far (the answer script) and the page answers with the
next state; nothing is stored. The expert's answer-script box stays on the same page
(``editor.try_it``), filled with the click-through's script so one can go on from there.
"""

from __future__ import annotations

from typing import Any

import yaml
from flask import Blueprint, render_template, request
from markupsafe import Markup

from engine.app import editor as editing
from engine.app import try_it
from web import forms_render as fr
from web import graph_svg
from web.db import services
from web.html.auth import login_required

bp = Blueprint("editor_try", __name__, url_prefix="/editor")


def _prefix(task_id: str | None) -> str:
    """The input prefix of one form on the page (several tasks may be open at once)."""
    return "f" if not task_id else f"f_{task_id}"


def _uploads(schema: Any, prefix: str) -> dict[str, list[str]]:
    """Files posted to the form: only their names are kept (in memory, never stored)."""
    extra: dict[str, list[str]] = {}
    for up in fr.posted_files(schema, request.files, prefix):
        extra.setdefault(up.name, []).append(up.filename)
    return extra


def _action(run: try_it.Run | None) -> dict[str, Any]:
    f = request.form
    do = f.get("do", "")
    if do in ("start", "task"):
        task_id = f.get("task") or None
        form = None
        if run is not None:
            if do == "start":
                form = run.start_form
            else:
                form = next((t.form for t in run.open if t.id == task_id), None)
        data: dict[str, Any] = {}
        if form is not None:
            prefix = _prefix(task_id if do == "task" else None)
            data = fr.parse_submission(form.schema, f, _uploads(form.schema, prefix), prefix=prefix)
        action: dict[str, Any] = {"do": do, "user": f.get("user", "").strip(), "data": data}
        if do == "task":
            action.update(step=f.get("step", ""), act_as=f.get("act_as", ""), decision=f.get("decision", ""),
                          comment=f.get("comment", ""))
            task = next((t for t in run.open if t.id == task_id), None) if run is not None else None
            if task is not None and run is not None and run.procedure.steps[task.step].approvers is not None:
                action["role"] = task.role or ""
        return action
    if do == "clock":
        return {"do": "clock", "by": f.get("by", ""), "to": f.get("to", "") if not f.get("by") else ""}
    return {"do": do}


def page(pid: str, run: try_it.Run, *, answers: str | None = None, result: Any = None, error: str | None = None,
         status: int = 200):
    """The Try it page: the click-through ``run`` and the expert's answer script."""
    path = frozenset(run.path)
    if result is not None:
        path = frozenset(result["path"])
    current = frozenset(t.step for t in run.open)
    svg = Markup(graph_svg.render(run.procedure, highlight=path))
    if answers is None:
        answers = yaml.safe_dump(run.script, allow_unicode=True, sort_keys=False, width=120) if run.started else None
    if answers is None:
        answers = yaml.safe_dump(editing.sample_answers(run.procedure, services().workflow.calendars),
                                 allow_unicode=True, sort_keys=False, width=120)
    errors = fr.Messages.of([dict(e) for e in run.errors])
    refused = run.refused or {}
    start_nodes = None
    if run.start_form is not None and not run.started:
        start_nodes = fr.field_tree(run.start_form.schema, refused.get("data") if refused.get("do") == "start" else {},
                                    errors if refused.get("do") == "start" else None)
    task_nodes = {}
    for t in run.open:
        if t.form is None:
            continue
        mine = refused.get("do") == "task" and refused.get("step") == t.step
        task_nodes[t.id] = fr.field_tree(t.form.schema, refused.get("data") if mine else {},
                                         errors if mine else None, prefix=_prefix(t.id))
    return render_template(
        "editor/try.html", pid=pid, proc=run.procedure, row=run.version, run=run, svg=svg, current=current,
        start_nodes=start_nodes, task_nodes=task_nodes, refused=refused, clock=try_it.CLOCK,
        now_text=try_it.local(run.now, run.zone), zone=run.zone.key,
        picker_start=try_it.picker_value(run.now, run.zone), events=try_it.events(run), tasks=try_it.tasks(run),
        local=lambda m: try_it.local(m, run.zone),
        answers=answers, result=result, error=error), status


@bp.post("/<pid>/try/click")
@login_required
def click(pid: str):
    """One click of the click-through: the run so far comes with the request."""
    version = request.form.get("v", type=int)
    script = request.form.get("script", "")
    before = try_it.click(services(), pid, version, script)
    run = try_it.click(services(), pid, version, before.script_text if not before.error else script,
                       _action(before))
    return page(pid, run, status=422 if run.error else 200)
