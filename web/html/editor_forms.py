"""The visual form builder's views: the page, adding a field by kind, changing, moving and
removing one, and the id a title would give. The builder's routes keep their endpoints on the
editor blueprint (``editor.form_builder``...), which calls the functions here; the id
suggestion is on this module's own blueprint. The views only parse the request: the rules
are in ``engine.app.form_builder`` and ``engine.language.form_kinds``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from engine.app import editor as editing
from engine.app import form_builder as builder
from engine.errors import DefinitionInvalid
from engine.language import form_kinds
from engine.language.yaml_edit import EditError
from web import forms_render as fr
from web.db import services
from web.html.auth import current_user, login_required
from web.i18n import _, get_locale

bp = Blueprint("editor_forms", __name__, url_prefix="/editor")


def _me() -> str:
    return current_user().username


def _number(name: str) -> float | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise EditError(_("'{value}' is not a number; write e.g. 12.5", value=raw)) from None
    return int(value) if value.is_integer() else value


def _columns(raw: str) -> list[dict[str, Any]]:
    """Table columns (or a group's fields) one per line: ``name:type:label[:options or unit]``;
    the name may be left empty (``:number:数量``) to make it from the label."""
    out = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("：", ":").split(":")]
        if len(parts) < 2:
            raise EditError(_("column line {n} '{line}': write name:type:label, e.g. qty:number:数量",
                              n=n, line=line))
        col: dict[str, Any] = {"name": parts[0], "type": parts[1], "title": parts[2] if len(parts) > 2 and parts[2] else parts[0]}
        extra = parts[3] if len(parts) > 3 else ""
        if extra and parts[1] in ("single", "multi", "string"):
            col["options"] = _options(extra.replace("/", ","))
        elif extra and parts[1] in ("number", "integer"):
            col["unit"] = extra
        out.append(col)
    return out


def _options(raw: str) -> list[str]:
    return [o.strip() for o in raw.replace("，", ",").replace("、", ",").split(",") if o.strip()]


def _visibility(kinds: dict[str, str]) -> str | None:
    f = request.form
    mode = f.get("vis_mode")
    if mode is None:  # an older page or a script: the expression as given
        return f.get("visible_if", "").strip() or None
    field = f.get("vis_field", "")
    value = f.get("vis_choice", "") if kinds.get(field) in ("single", "multi") else f.get("vis_value", "")
    return builder.condition(kinds, mode, field, f.get("vis_op", ""), value.strip(), f.get("visible_if"))


def _kinds_of(pid: str, fid: str) -> dict[str, str]:
    return builder.open_builder(services(), _me(), pid, fid).kinds


def _flash_problems(edit) -> Any:
    try:
        return edit()
    except DefinitionInvalid as exc:
        for p in exc.problems:
            flash(str(p), "error")
    except EditError as exc:
        flash(exc.message, "error")
    return None


# --------------------------------------------------------------------------- the page


def builder_page(pid: str, fid: str, *, typed: Any = None, problems: list[str] | None = None,
                 status: int = 200) -> tuple[str, int]:
    """The builder; ``typed``: a refused "Add field" form, shown again as typed with
    ``problems`` (why it was refused)."""
    found = builder.open_builder(services(), _me(), pid, fid)
    draft = found.draft
    form = draft.procedure.forms.get(fid)
    locale = get_locale()
    names = {f.name: form_kinds.kind_name(f.kind, locale, short=True) for f in found.fields}
    pickable = [{"name": f.name, "title": f.title, "kind": f.kind, "options": found.choices.get(f.name, [])}
                for f in found.fields if f.kind in form_kinds.OPERATORS]
    tables = [{"name": f.name, "title": f.title,
               "columns": [{"name": c.name, "title": c.title, "kind": c.kind} for c in f.columns]}
              for f in found.fields if f.kind == "table"]
    dates = [{"name": f.name, "title": f.title} for f in found.fields if f.kind in ("date", "datetime")]
    ops = {kind: [[op, _OP_WORDS[op]()] for op in ops] for kind, ops in form_kinds.OPERATORS.items()}
    conditions = found.conditions
    preview = fr.field_tree(form.schema, {}) if form else []
    typed_vis = None
    if typed is not None:
        try:
            expr = _visibility(found.kinds)
        except (EditError, ValueError):
            expr = typed.get("visible_if") or None
        typed_vis = (form_kinds.parse_condition(expr, found.kinds) if expr else None, expr or "")
    return render_template("editor/form_builder.html", pid=pid, fid=fid, form=form, fields=found.fields,
                           kind_names=names, kinds=[(k.id, form_kinds.kind_name(k.id, locale)) for k in form_kinds.KINDS],
                           text=draft.text, preview=preview, row=draft.version, picker_fields=pickable,
                           picker_ops=ops, conditions=conditions, field_kinds=found.kinds, tables=tables, dates=dates,
                           typed=typed, typed_vis=typed_vis, add_problems=problems or []), status


_OP_WORDS = {
    "==": lambda: _("equals"), "!=": lambda: _("is not"), "<": lambda: _("is less than"),
    "<=": lambda: _("is at most"), ">": lambda: _("is more than"), ">=": lambda: _("is at least"),
    "has": lambda: _("includes"), "lacks": lambda: _("does not include"),
    "yes": lambda: _("is answered Yes"), "no": lambda: _("is answered No"),
}


def add_field(pid: str, fid: str):
    f = request.form
    try:
        kinds = _kinds_of(pid, fid)
        spec: dict[str, Any] = {
            "options": _options(f.get("options", "")), "unit": f.get("unit", "").strip() or None,
            "minimum": _number("min"), "maximum": _number("max"),
            "visible_if": _visibility(kinds), "columns": _columns(f.get("columns", "")),
            "compute": f.get("compute", "").strip() or None,
        }
        kind = f.get("type", "text")
        if kind in ("number", "integer"):
            spec.update(range_min=_number("range_min"), range_max=_number("range_max"),
                        integer=bool(f.get("integer")))
        if kind in ("text", "textarea"):
            spec["placeholder"] = f.get("placeholder", "").strip() or None
        if kind in ("photo", "file"):
            spec["max_items"] = _number("max_items")
            spec["camera"] = bool(f.get("camera"))
            spec["accept"] = _options(f.get("accept", ""))
        if kind == "user":
            spec["several"] = bool(f.get("several"))
    except EditError as exc:
        return builder_page(pid, fid, typed=f, problems=[exc.message], status=422)
    try:
        label, name = builder.add_field(
            services(), _me(), pid, fid, kind=kind, title=f.get("title", ""), name=f.get("name", ""),
            required=bool(f.get("required")), after=f.get("after") or None, **spec)
    except DefinitionInvalid as exc:  # shown again as typed, with why
        return builder_page(pid, fid, typed=f, problems=[str(p) for p in exc.problems], status=422)
    except EditError as exc:
        return builder_page(pid, fid, typed=f, problems=[exc.message], status=422)
    flash(_("Field {name} added; saved as draft {version}.", name=name, version=label), "ok")
    return redirect(url_for("editor.form_builder", pid=pid, fid=fid))


# Settings an edit form may send, with how each is read; absent ones are left as they are.
_TEXT = {"unit": "unit", "placeholder": "placeholder", "compute": "compute"}
_NUMBERS = {"min": "minimum", "max": "maximum", "range_min": "range_min", "range_max": "range_max",
            "max_items": "max_items"}


def field_action(pid: str, fid: str, name: str, action: str):
    f = request.form
    try:
        if action == "move":
            try:
                position = int(f.get("position", ""))
            except ValueError:
                raise EditError(_("say where to move the field (its new place, 0 is first)")) from None
            label = _flash_problems(lambda: builder.move_field(services(), _me(), pid, fid, name, position))
            if request.accept_mimetypes.best == "application/json":
                return jsonify(ok=bool(label), version=label), (200 if label else 422)
        elif action == "update":
            changes: dict[str, Any] = {"title": f.get("title", ""), "required": bool(f.get("required"))}
            for key, arg in _TEXT.items():
                if key in f:
                    changes[arg] = f[key].strip() or None
            for key, arg in _NUMBERS.items():
                if key in f:
                    changes[arg] = _number(key)
            if "options" in f:
                changes["options"] = _options(f["options"])
            if "accept" in f:
                changes["accept"] = _options(f["accept"])
            if "vis_mode" in f or "visible_if" in f:
                changes["visible_if"] = _visibility(_kinds_of(pid, fid))
            if f.get("columns", "").strip():
                changes["columns"] = _columns(f["columns"])
            label = _flash_problems(lambda: builder.update_field(services(), _me(), pid, fid, name, **changes))
        else:
            label = _flash_problems(lambda: editing.change_form_field(services(), _me(), pid, fid, name, action))
    except EditError as exc:
        flash(exc.message, "error")
        return redirect(url_for("editor.form_builder", pid=pid, fid=fid))
    if label:
        flash(_("Saved as draft {version}.", version=label), "ok")
    return redirect(url_for("editor.form_builder", pid=pid, fid=fid) + f"#field-{name}")


@bp.get("/<pid>/forms/<fid>/field-id")
@login_required
def field_id(pid: str, fid: str):
    """The id the builder would give a new field of this title (shown as the user types)."""
    return jsonify(id=builder.suggest_id(services(), _me(), pid, fid, request.args.get("title", "")))
