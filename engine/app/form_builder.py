"""Use cases of the visual form builder: the builder's view of a draft form, a field added
by kind (its id made from the title when none is given), a field's settings changed, a field
moved to a place (drag and drop) or removed. Every change is saved as a new draft through
``engine.app.editor.edit``, which checks the whole draft as the text editor does.

The rules of kinds, ids and visibility conditions live in ``engine.language.form_kinds``;
the YAML is changed by ``engine.language.yaml_edit`` so comments and order survive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from engine.app import editor as editing
from engine.errors import NotFound
from engine.i18n import _, keep
from engine.language import form_kinds, yaml_edit
from engine.language.form_kinds import (
    Condition,
    FieldModel,
    builder_fields,
    compose_condition,
    parse_condition,
)

if TYPE_CHECKING:
    from engine.app.services import Services


@dataclass(frozen=True)
class Builder:
    """What the builder page shows of one draft form."""

    draft: editing.DraftFile
    fields: list[FieldModel]
    kinds: dict[str, str]  # field name -> kind, for the visibility picker
    conditions: dict[str, Condition | None]  # field name -> its condition as the picker reads it
    choices: dict[str, list[str]]  # field name -> its options (single and multiple choices)


def _schema_of(text: str) -> Mapping[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    schema = doc.get("schema") if isinstance(doc, dict) else None
    return schema if isinstance(schema, dict) else {}


def open_builder(services: Services, username: str, procedure_id: str, form_id: str) -> Builder:
    """The builder's model of form ``form_id`` in the working copy (editors only)."""
    draft = editing.draft_file(services, username, procedure_id, form_id)
    fields = builder_fields(_schema_of(draft.text))
    kinds = {f.name: f.kind for f in fields}
    return Builder(draft, fields, kinds,
                   {f.name: parse_condition(f.visible_if, kinds) for f in fields},
                   {f.name: [str(o) for o in f.settings.get("options") or []] for f in fields
                    if f.kind in ("single", "multi")})


def suggest_id(services: Services, username: str, procedure_id: str, form_id: str, title: str) -> str:
    """The id a new field titled ``title`` would get in this form."""
    draft = editing.draft_file(services, username, procedure_id, form_id)
    return form_kinds.field_id(title, set(_schema_of(draft.text).get("properties") or {}))


def condition(kinds: Mapping[str, str], mode: str, field: str, op: str, value: str,
              expression: str | None) -> str | None:
    """The ``x-visible-if`` a builder form asks for: none (``always``), the picker's choice
    (``picker``), or the expression as typed (``expr``, for experts)."""
    if mode == "always":
        return None
    if mode == "picker":
        if not field:
            raise yaml_edit.EditError(_("choose the field this one depends on, or 'Always'"))
        try:
            return compose_condition(Condition(field, op, value), kinds)
        except form_kinds.ConditionError as exc:
            raise yaml_edit.EditError(str(exc)) from None
    return (expression or "").strip() or None


def add_field(services: Services, username: str, procedure_id: str, form_id: str, *, kind: str, title: str,
              name: str = "", required: bool = False, after: str | None = None, **spec: Any) -> tuple[str, str]:
    """A new field of ``kind`` (``form_kinds.KIND_IDS``; the old JSON types too); its id is
    made from ``title`` when ``name`` is empty. ``(draft label, field id)``."""
    title = title.strip()
    name = name.strip()
    chosen: dict[str, str] = {}

    def change(source: str, forms: dict[str, str]) -> tuple[str, dict[str, str]]:
        if form_id not in forms:
            raise NotFound(_("the working copy of '{id}' has no form '{form}'; pick one of its forms in the editor",
                             id=procedure_id, form=form_id))
        text = forms[form_id]
        field_name = name
        if not field_name:
            if not title:
                raise yaml_edit.EditError(_("give the field a label (its id is made from it)"))
            field_name = form_kinds.field_id(title, set(_schema_of(text).get("properties") or {}))
        chosen["name"] = field_name
        forms[form_id] = yaml_edit.add_field(text, field_name, required=required, after=after,
                                             type=kind, title=title or field_name, **spec)
        return source, forms

    label = editing.edit(services, username, procedure_id, change, lambda proc: editing.written(
        f"form {form_id}: + {name or title}",
        keep("field {field} added to form {form}", field=editing.named(title, chosen["name"]),
             form=editing.form_named(proc, form_id))))
    return label, chosen["name"]


def update_field(services: Services, username: str, procedure_id: str, form_id: str, name: str,
                 columns: list[dict[str, Any]] | None = None, **changes: Any) -> str:
    """A field's title, required, visibility or settings changed (only those passed), and
    for a table or a group, ``columns`` added; one draft for it all."""
    def change(source: str, forms: dict[str, str]) -> tuple[str, dict[str, str]]:
        if form_id not in forms:
            raise NotFound(_("the working copy of '{id}' has no form '{form}'; pick one of its forms in the editor",
                             id=procedure_id, form=form_id))
        text = yaml_edit.update_field(forms[form_id], name, **changes)
        forms[form_id] = yaml_edit.add_columns(text, name, columns) if columns else text
        return source, forms

    return editing.edit(services, username, procedure_id, change, lambda proc: editing.written(
        f"form {form_id}: {name}", keep("field {field} of form {form} changed",
                                        field=editing.field_named(proc, form_id, name),
                                        form=editing.form_named(proc, form_id))))


def add_columns(services: Services, username: str, procedure_id: str, form_id: str, name: str,
                columns: list[dict[str, Any]]) -> str:
    """Columns added to table ``name`` (fields to group ``name``)."""
    def change(source: str, forms: dict[str, str]) -> tuple[str, dict[str, str]]:
        if form_id not in forms:
            raise NotFound(_("the working copy of '{id}' has no form '{form}'; pick one of its forms in the editor",
                             id=procedure_id, form=form_id))
        forms[form_id] = yaml_edit.add_columns(forms[form_id], name, columns)
        return source, forms

    return editing.edit(services, username, procedure_id, change, lambda proc: editing.written(
        f"form {form_id}: {name} + columns", keep("columns added to field {field} of form {form}",
                                                  field=editing.field_named(proc, form_id, name),
                                                  form=editing.form_named(proc, form_id))))


def move_field(services: Services, username: str, procedure_id: str, form_id: str, name: str,
               position: int) -> str:
    """Field ``name`` moved to ``position`` (0 is first): the builder's drag and drop."""
    def change(source: str, forms: dict[str, str]) -> tuple[str, dict[str, str]]:
        if form_id not in forms:
            raise NotFound(_("the working copy of '{id}' has no form '{form}'; pick one of its forms in the editor",
                             id=procedure_id, form=form_id))
        forms[form_id] = yaml_edit.move_field_to(forms[form_id], name, position)
        return source, forms

    return editing.edit(services, username, procedure_id, change, lambda proc: editing.written(
        f"form {form_id}: move {name}", keep("field {field} of form {form} moved",
                                             field=editing.field_named(proc, form_id, name),
                                             form=editing.form_named(proc, form_id))))
