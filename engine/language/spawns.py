"""Spawn steps checked against the procedures they open, before anyone runs them.

A spawn that names a missing procedure, hands over a field the child's start form lacks or
a value outside its choices, or that belongs to a cycle of procedures opening each other,
used to pass ``wf validate`` and then fail for the user who completed the step before it.
``check_spawns`` reports each at the line of the spawn step.

A procedure validated on its own may spawn any procedure of its folder (or of the configured
procedures folder): those are read as *outlines* (id, start form and spawn targets only),
which is cheap enough to do for every file.

Pure module: reads files it is given, no database.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from engine.errors import Problem
from engine.i18n import _
from engine.language import yaml_source as yamlsrc
from engine.language.expr_types import Kind, form_kinds, kind_words, result_kind
from engine.language.suggest import suggest

if TYPE_CHECKING:
    from engine.language.forms import Form
    from engine.language.procedure import Procedure

__all__ = ["Outline", "check_spawns", "outlines"]


@dataclass(frozen=True)
class Outline:
    """What another procedure's spawn check needs of a procedure file."""

    id: str
    start_form: str | None
    spawns: tuple[str, ...]
    file: str


@functools.lru_cache(maxsize=1024)
def _outline(file: str, content: bytes) -> Outline | None:
    try:
        raw = yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or "steps" not in raw:
        return None
    start = raw.get("start")
    form = start.get("form") if isinstance(start, dict) else None
    steps = raw.get("steps")
    targets = tuple(
        str(s["procedure"]) for s in (steps.values() if isinstance(steps, dict) else ())
        if isinstance(s, dict) and s.get("type") == "spawn" and isinstance(s.get("procedure"), str)
    )
    return Outline(raw["id"], form if isinstance(form, str) else None, targets, file)


def outlines(files: Iterable[Path]) -> dict[str, Outline]:
    """Outlines of the procedure files among ``files`` (forms and broken files are skipped)."""
    out: dict[str, Outline] = {}
    for path in files:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        found = _outline(str(path), content)
        if found is not None:
            out.setdefault(found.id, found)
    return out


def _listing(items: Iterable[str], limit: int = 12) -> str:
    items = list(items)
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")


def check_spawns(procedures: Mapping[str, Procedure], others: Mapping[str, Outline],
                 forms: Mapping[str, Form]) -> list[Problem]:
    """Every spawn step of ``procedures`` against its target (in ``procedures`` or ``others``)."""
    from engine.language.procedure import procedure_kinds

    graph: dict[str, tuple[str, ...]] = {pid: o.spawns for pid, o in others.items()}
    for pid, proc in procedures.items():
        graph[pid] = tuple(s.procedure for s in proc.steps.values() if s.type == "spawn" and s.procedure)
    known = sorted(graph)
    problems: list[Problem] = []
    for pid, proc in sorted(procedures.items()):
        spawns = [s for s in proc.steps.values() if s.type == "spawn" and s.procedure]
        if not spawns:
            continue
        src = yamlsrc.load(proc.text, proc.file)
        kinds = procedure_kinds(proc.forms, proc.steps, proc.start_form)

        def at(path: yamlsrc.Path, message: str, *, key: bool = False) -> None:
            line, col = src.where(path, key=key)  # noqa: B023 - used within this iteration only
            problems.append(Problem(proc.file, line, col, message))  # noqa: B023

        for step in spawns:
            target = step.procedure or ""
            spath = ("steps", step.id)
            if target not in graph:
                hint = suggest(target, known)
                if hint:
                    message = _("unknown procedure '{target}' to spawn; did you mean '{hint}'?", target=target, hint=hint)
                else:
                    message = _("unknown procedure '{target}' to spawn; known procedures: {known}",
                                target=target, known=_listing(known))
                at((*spath, "procedure"), message)
                continue
            cycle = _cycle(graph, pid, target)
            if cycle is not None:
                at((*spath, "procedure"),
                   _("spawning '{target}' here closes a cycle {cycle}: each instance would "
                     "open another without end; let one of them stop spawning (end it, or start the "
                     "other by hand)", target=target, cycle=" → ".join(cycle)))
            child = procedures[target].start_form if target in procedures else others[target].start_form
            child_form = forms.get(child) if child else None
            if child_form is None:
                if step.with_:
                    at((*spath, "with"), _("procedure '{target}' has no start form, so 'with' has nothing to "
                                           "fill; remove 'with' or give that procedure 'start: {{form: ...}}'",
                                           target=target))
                continue
            problems.extend(_check_with(proc.file, src, step.id, step.with_, target, child_form, kinds))
    return problems


def _check_with(file: str, src: yamlsrc.Source, sid: str, with_: Iterable[tuple[str, Any]],
                target: str, form: Form, kinds: Mapping[str, Kind]) -> list[Problem]:
    problems: list[Problem] = []
    child_kinds = form_kinds(form.schema, target)
    given = set()
    for key, expr in with_:
        given.add(key)
        line, col = src.where(("steps", sid, "with", key), key=True)
        if key not in form.fields:
            hint = suggest(key, list(form.fields))
            said = {"key": key, "form": form.id, "target": target, "fields": _listing(form.fields)}
            if hint:
                message = _("'{key}' is not a field of the start form '{form}' of procedure '{target}'; "
                            "did you mean '{hint}'? its fields: {fields}", hint=hint, **said)
            else:
                message = _("'{key}' is not a field of the start form '{form}' of procedure '{target}'; "
                            "its fields: {fields}", **said)
            problems.append(Problem(file, line, col, message))
            continue
        want = child_kinds[f"{target}.{key}"]
        got, typos = result_kind(expr.source, kinds)
        if typos:
            continue  # reported with the expression itself
        vline, vcol = src.where(("steps", sid, "with", key))
        mismatch = _mismatch(got, want, _("'{key}' of the start form '{form}' of procedure '{target}'",
                                          key=key, form=form.id, target=target))
        if mismatch:
            problems.append(Problem(file, vline, vcol, mismatch))
    missing = [f for f, info in form.fields.items()
               if info.required and "." not in f and f not in given and info.visible_if is None
               and "default" not in (form.schema.get("properties", {}).get(f) or {})]
    if missing:
        line, col = src.where(("steps", sid, "with") if given else ("steps", sid, "procedure"))
        said = {"form": form.id, "target": target, "fields": ", ".join(repr(m) for m in missing)}
        if len(missing) > 1:
            message = _("the start form '{form}' of procedure '{target}' requires {fields}; add them under 'with'",
                        **said)
        else:
            message = _("the start form '{form}' of procedure '{target}' requires {fields}; add it under 'with'",
                        **said)
        problems.append(Problem(file, line, col, message))
    return problems


_DATEISH = ("date", "datetime")


def _mismatch(got: Kind, want: Kind, where: str) -> str | None:
    """Why a value of kind ``got`` cannot fill the field ``want``; None when it can (or may)."""
    if got.kind is None or want.kind is None or got.kind == "none":
        return None
    if want.choices is not None:
        if got.has_literal and got.literal not in want.choices:
            return _("{value} is not a choice of {where}; its choices are: {choices}",
                     value=repr(got.literal), where=where, choices=_listing(map(str, want.choices)))
        if got.choices is not None:
            extra = [c for c in got.choices if c not in want.choices]
            if extra:
                return _("'{name}' can be {values}, which {where} does not accept "
                         "(its choices are: {choices}); map the values with "
                         "'A if ... else B' or align the two forms' choices",
                         name=got.name, values=_listing(map(repr, extra)), where=where,
                         choices=_listing(map(str, want.choices)))
    wanted = want.kind
    got_kind = got.kind
    if wanted == "text" and want.fmt and got_kind in _DATEISH:
        return None  # dates are handed over as ISO text
    if got_kind == wanted or (wanted == "number" and got_kind == "number"):
        return None
    described = kind_words()
    said = {"where": where, "want": described.get(wanted, wanted), "got": described.get(got_kind, got_kind)}
    if got.name:
        return _("{where} takes {want}, but this gives {got} ('{name}')", name=got.name, **said)
    return _("{where} takes {want}, but this gives {got}", **said)


def _cycle(graph: Mapping[str, tuple[str, ...]], start: str, first: str) -> list[str] | None:
    """The shortest chain ``start → first → ... → start``, if ``first`` leads back."""
    paths = {first: [start, first]}
    todo = [first]
    while todo:
        node = todo.pop(0)
        if node == start:
            return paths[node]
        for nxt in graph.get(node, ()):
            if nxt not in paths or nxt == start:
                if nxt == start:
                    return [*paths[node], start]
                paths[nxt] = [*paths[node], nxt]
                todo.append(nxt)
    return None
