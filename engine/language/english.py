"""English titles beside the Chinese ones: the optional ``en:`` block of a procedure or form file.

Procedures and forms are written in Chinese; a file may add, at its end, one ``en:`` block
with the English of its title and description, of its steps (procedure) or fields (form), of
its roles and of a field's choices. Pages in English show it; anything it leaves out is shown
as written (Chinese). A choice's stored value never changes: the English is its label only.
The block is checked like the rest of the file: a step, role, field or choice it names must
exist (``file:line:col``, with "did you mean"). See docs/procedure-language.md and
docs/forms.md, "English titles".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.i18n import _, reader_locale
from engine.language.suggest import suggest

#: The keys of a procedure's ``en:`` block, of one step in it, of a form's, of one field in it.
PROCEDURE_KEYS = ("title", "description", "roles", "steps")
STEP_KEYS = ("title", "description", "instructions")
FORM_KEYS = ("title", "description", "fields")
FIELD_KEYS = ("title", "description", "choices")

Err = Callable[..., None]  # err(path, message, key=False)


@dataclass(frozen=True)
class Texts:
    """The English of one thing (a procedure, a step, a form, a field): its title, its
    description, and for a field with choices the label of each stored value."""

    title: str = ""
    description: str = ""
    choices: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class English:
    """A file's ``en:`` block: its own texts, its steps' or fields' (by id or dotted path), and
    its roles' titles."""

    own: Texts = Texts()
    parts: Mapping[str, Texts] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)

    def raw(self) -> list[Any]:
        """A plain form of it, for content hashes."""
        return [[self.own.title, self.own.description],
                {k: [t.title, t.description, dict(t.choices)] for k, t in sorted(self.parts.items())},
                dict(sorted(self.roles.items()))]


def shown(thing: Any, what: str = "title", locale: str = "zh") -> str:
    """``thing``'s ``what`` (``title`` or ``description``) as a reader in ``locale`` sees it:
    its English when the locale is ``en`` and the file gives one, else as written. ``thing``
    is a Procedure, a Step or a Form (anything with the attribute and an ``english``)."""
    written = str(getattr(thing, what, "") or "")
    if locale != "en":
        return written
    english = getattr(thing, "english", None)
    texts = english.own if isinstance(english, English) else english
    return (getattr(texts, what, "") if isinstance(texts, Texts) else "") or written


def titled(thing: Any) -> str:
    """``thing``'s title as the current reader sees it (``reader_locale``): what a message
    names a procedure or step by."""
    return shown(thing, "title", reader_locale())


def role_shown(roles: Mapping[str, str], english: English | None, role: str | None, locale: str) -> str:
    """A role's title in ``locale`` (the role id where it has none)."""
    if not role:
        return ""
    if locale == "en" and english is not None and english.roles.get(role):
        return english.roles[role]
    return roles.get(role, role)


def label(english: English | None, path: str, value: Any, locale: str) -> str | None:
    """The English label of a stored choice ``value`` of the field at ``path``, or None."""
    if locale != "en" or english is None:
        return None
    texts = english.parts.get(path)
    return texts.choices.get(_text(value)) if texts else None


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- checking


def _mapping(node: Any, path: tuple[Any, ...], err: Err, message: str) -> Mapping[Any, Any] | None:
    """``node`` when it is a mapping; else None, with ``message`` (what must be a mapping)."""
    if not isinstance(node, dict):
        err(path, message)
        return None
    return node


def _keys(node: Mapping[Any, Any], allowed: Iterable[str], path: tuple[Any, ...], err: Err, what: str) -> None:
    """``what``: where the keys are, translated (``the English block of a procedure``)."""
    allowed = list(allowed)
    for key in node:
        if key not in allowed:
            close = suggest(str(key), allowed)
            if close:
                err((*path, key), _("unknown key '{key}' in {what}; did you mean '{guess}'?",
                                    key=key, what=what, guess=close), key=True)
            else:
                err((*path, key), _("unknown key '{key}' in {what}; allowed here: {keys}",
                                    key=key, what=what, keys=", ".join(allowed)), key=True)


def _words(node: Mapping[Any, Any], key: str, path: tuple[Any, ...], err: Err) -> str:
    value = node.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
        err((*path, key), _("'{key}' must be English text, e.g. {key}: Receive the product", key=key))
        return ""
    return str(value).strip()


def _ref(name: Any, known: Iterable[str], path: tuple[Any, ...], err: Err, what: str,
         field_name: str = "") -> bool:
    """``name`` is one of ``known`` (``what``: step, role, field or choice; a choice is one
    of field ``field_name``'s); else the problem, with the close name or the known ones."""
    known = list(known)
    if name in known:
        return True
    close = suggest(str(name), known)
    listed = ", ".join(known[:12]) + (_(", ... ({n} in all)", n=len(known)) if len(known) > 12 else "")
    if what == "choice":
        head = _("the English block names choice '{name}', which is not a choice of field '{field}' "
                 "(label the stored values)", name=name, field=field_name)
        others = _("the choices are: {names}", names=listed) if known else _("it has no choices")
    elif what == "step":
        head = _("the English block names step '{name}', which the file does not declare", name=name)
        others = _("the steps are: {names}", names=listed) if known else _("it has no steps")
    elif what == "role":
        head = _("the English block names role '{name}', which the file does not declare", name=name)
        others = _("the roles are: {names}", names=listed) if known else _("it has no roles")
    else:
        head = _("the English block names field '{name}', which the file does not declare", name=name)
        others = _("the fields are: {names}", names=listed) if known else _("it has no fields")
    fix = _("did you mean '{guess}'?", guess=close) if close else others
    err(path, _("{problem}; {fix}", problem=head, fix=fix), key=True)
    return False


def check_procedure(node: Any, steps: Iterable[str], roles: Iterable[str], err: Err) -> English | None:
    """The procedure's ``en:`` block checked against its steps and roles."""
    path: tuple[Any, ...] = ("en",)
    block = _mapping(node, path, err, _("'en' (the English titles) must be a mapping"))
    if block is None:
        return None
    _keys(block, PROCEDURE_KEYS, path, err, _("the English block of a procedure"))
    parts: dict[str, Texts] = {}
    steps_node = block.get("steps")
    if steps_node is not None and _mapping(steps_node, (*path, "steps"), err,
                                           _("'en.steps' (step id: its English) must be a mapping")):
        for sid, sub in steps_node.items():
            where = (*path, "steps", sid)
            if not _ref(sid, steps, where, err, "step"):
                continue
            if isinstance(sub, str):  # receive: Receive the product
                parts[str(sid)] = Texts(title=_words({"title": sub}, "title", where, err))
                continue
            if _mapping(sub, where, err, _("the English of step '{step}' (a title, or {{title, instructions}}) "
                                           "must be a mapping", step=sid)) is None:
                continue
            _keys(sub, STEP_KEYS, where, err, _("the English of step '{step}'", step=sid))
            parts[str(sid)] = Texts(title=_words(sub, "title", where, err),
                                    description=_words(sub, "instructions", where, err)
                                    or _words(sub, "description", where, err))
    role_titles: dict[str, str] = {}
    roles_node = block.get("roles")
    if roles_node is not None and _mapping(roles_node, (*path, "roles"), err,
                                           _("'en.roles' (role id: its English title) must be a mapping")):
        for rid, title in roles_node.items():
            if _ref(rid, roles, (*path, "roles", rid), err, "role"):
                role_titles[str(rid)] = _words({"title": title}, "title", (*path, "roles", rid), err)
    return English(own=Texts(title=_words(block, "title", path, err),
                             description=_words(block, "description", path, err)),
                   parts=parts, roles=role_titles)


def form_fields(schema: Mapping[str, Any], prefix: str = "") -> dict[str, Mapping[str, Any]]:
    """Every field of a form schema by dotted path (``items.result`` for a table's column,
    ``contact.phone`` for a group's field), with its schema."""
    out: dict[str, Mapping[str, Any]] = {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return out
    for name, sub in props.items():
        if not isinstance(sub, dict):
            continue
        dotted = f"{prefix}{name}"
        out[dotted] = sub
        out.update(form_fields(sub, f"{dotted}."))
        items = sub.get("items")
        if isinstance(items, dict):
            out.update(form_fields(items, f"{dotted}."))
    return out


def choices_of(sub: Mapping[str, Any]) -> list[Any] | None:
    """The values a field may take from a list (``enum``, or its items' for a multi-choice)."""
    if isinstance(sub.get("enum"), list):
        return list(sub["enum"])
    items = sub.get("items")
    if isinstance(items, dict) and isinstance(items.get("enum"), list):
        return list(items["enum"])
    return None


def check_form(node: Any, schema: Mapping[str, Any], err: Err) -> English | None:
    """The form's ``en:`` block checked against its fields and their choices."""
    path: tuple[Any, ...] = ("en",)
    block = _mapping(node, path, err, _("'en' (the English titles) must be a mapping"))
    if block is None:
        return None
    _keys(block, FORM_KEYS, path, err, _("the English block of a form"))
    fields = form_fields(schema)
    parts: dict[str, Texts] = {}
    fields_node = block.get("fields")
    if fields_node is not None and _mapping(fields_node, (*path, "fields"), err,
                                            _("'en.fields' (field path: its English) must be a mapping")):
        for name, sub in fields_node.items():
            where = (*path, "fields", name)
            if not _ref(name, fields, where, err, "field"):
                continue
            if isinstance(sub, str):  # verdict: Verdict
                parts[str(name)] = Texts(title=_words({"title": sub}, "title", where, err))
                continue
            if _mapping(sub, where, err, _("the English of field '{field}' (a title, or "
                                           "{{title, description, choices}}) must be a mapping", field=name)) is None:
                continue
            _keys(sub, FIELD_KEYS, where, err, _("the English of field '{field}'", field=name))
            labels: dict[str, str] = {}
            choices = sub.get("choices")
            if choices is not None:
                values = choices_of(fields[name])
                if values is None:
                    err((*where, "choices"), _("field '{field}' has no list of choices (enum) to label; "
                                               "remove 'choices' or give the field an enum", field=name), key=True)
                elif _mapping(choices, (*where, "choices"), err,
                              _("'choices' (stored value: its English label) must be a mapping")) is not None:
                    known = [_text(v) for v in values]
                    for value, text in choices.items():
                        if _ref(_text(value), known, (*where, "choices", value), err, "choice", str(name)):
                            labels[_text(value)] = _words({"label": text}, "label", (*where, "choices", value), err)
            parts[str(name)] = Texts(title=_words(sub, "title", where, err),
                                     description=_words(sub, "description", where, err), choices=labels)
    return English(own=Texts(title=_words(block, "title", path, err),
                             description=_words(block, "description", path, err)), parts=parts)


def shown_schema(schema: Mapping[str, Any], english: English) -> dict[str, Any]:
    """A copy of a form schema as an English page shows it: titles and descriptions in
    English where given, and ``x-labels`` (stored value: English label) beside each labelled
    field's choices. The values themselves, and so what is submitted and stored, are the same."""

    def walk(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out = dict(node)
        props = node.get("properties")
        if isinstance(props, dict):
            new = {}
            for name, sub in props.items():
                if not isinstance(sub, dict):
                    new[name] = sub
                    continue
                dotted = f"{prefix}{name}"
                copy = walk(sub, f"{dotted}.")
                if isinstance(sub.get("items"), dict):
                    copy["items"] = walk(sub["items"], f"{dotted}.")
                texts = english.parts.get(dotted)
                if texts is not None:
                    if texts.title:
                        copy["title"] = texts.title
                    if texts.description:
                        copy["description"] = texts.description
                    if texts.choices:
                        copy["x-labels"] = dict(texts.choices)
                        if isinstance(copy.get("items"), dict):
                            copy["items"] = {**copy["items"], "x-labels": dict(texts.choices)}
                new[name] = copy
            out["properties"] = new
        return out

    return walk(schema, "")
