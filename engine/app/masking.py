"""What a reader sees in clear: the one masking rule for pages, API, exports and search.

Sensitive fields (``x-sensitive: true`` in a form; values a spawn step copies from them
count too) are shown by one rule on every page and in the API that shows recorded data:
the dossier, the audit search, ledgers and exports, the instance page and its timeline,
the task page, and the API's instances and events (``GET`` and the instance that every
write answers with).

* **Clearance** (config ``audit.clearance_groups``, default ``[data-officers]``): a cleared
  reader sees the values in clear; each view that shows a filled sensitive value is
  written to the access log (``record_views``; the view is ``dossier``, ``pdf``,
  ``search``, ``ledger``, ``instance``, ``task``, ``api``...).
* **Working on an open task**: whoever may act on an open task of the instance (its
  assignee, or a holder of its role or escalation role while unassigned: ``access.may_act``)
  needs the values to do the job (a field engineer calls the customer), so the task's page
  and the API's view of that task show the earlier steps' values in clear, and that view is
  logged as ``task``. Only those: the same user browsing the instance page or reading the
  instance through the API sees the mask; whoever separation of duties keeps from the step
  gets neither (``tasks._refuse_unless_may_act``).
* **Everybody else** sees ``MASK`` in place of each filled sensitive value (an empty value
  stays empty), in HTML and in JSON.
* **Reading back** (issue 15): a filter, a sort, a drill-down or a value search on a
  sensitive field tells its value without showing it (a phone number recovered digit by
  digit from which prefixes match). So each of those is refused with 403 naming the field
  for a reader without clearance (``refuse_reading_back``), and each use by a cleared
  reader is logged as a view in clear of that field (``log_reading_back``; the view names
  the use: ``ledger-filter``, ``ledger-sort``, ``kpi-drill``, ``search-value``...).
* What a user types into the form being filled (and their own drafts) is never masked.
* Masking changes what is shown, never what is stored. ``MASK`` sent back as a sensitive
  value (web or API) never replaces the real one: resubmitting a step that runs again, it
  keeps the value recorded for that field (``keep_masked``); anywhere else (start forms,
  corrections, a first submission) it is refused with 422 (``mask_errors``, ``refuse_mask``).

The marker counts at any depth of a form: a property of a group (``site.mobile``) or a
column of a table (``contacts[].phone``: that cell of every row). Only those values are
masked; the other properties and cells stay as they are. The access log names the field at
the top (``docs.contacts``) when a value below it was shown in clear. A correction replaces
a field's whole value, so the corrections of a field holding sensitive values anywhere
below it are masked as a whole. ``MASK`` sent back in a table cell keeps the cell recorded
for the row that holds the same apart from its sensitive cells; where no row pairs, or
nothing is recorded, it is refused like a mask at the top.
"""


from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.app.access import Reader
from engine.errors import FormInvalid, NotPermitted
from engine.i18n import _
from engine.store.audit_search import log_access

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.database import Database
    from engine.app.service import Workflow
    from engine.language.procedure import Procedure

MASK = "●●●●"


# ``sensitive_keys`` by ``Procedure.content_hash`` (the procedure text and its forms' content,
# all the keys depend on): every answer that shows recorded data asks for them, and walking
# the forms and the spawn steps' expressions cost about 0.1 ms each time. A version is never
# changed once published, and a new version has a new hash; the cap only bounds the memory
# of a long-lived process that meets many versions.
_KEYS: dict[str, frozenset[str]] = {}
_KEYS_CAP = 512


def sensitive_keys(proc: Procedure) -> frozenset[str]:
    """``STEP.PATH`` of every value marked ``x-sensitive: true`` in the procedure's forms
    (``docs.phone``; below the top: ``docs.contacts[].phone`` for that cell of every row,
    ``docs.site.mobile`` for a property of a group, ``Form.sensitive_paths``), and
    ``SPAWN_STEP.KEY`` of each value a spawn step computes from such a field (it is
    recorded in the ``spawn:requested`` event and the instance's links); computed once per
    procedure version content."""
    key = proc.content_hash
    found = _KEYS.get(key)
    if found is None:
        if len(_KEYS) >= _KEYS_CAP:
            _KEYS.clear()
        found = _KEYS[key] = _sensitive_keys(proc)
    return found


def across_versions(workflow: Workflow, session: Session, proc: Procedure) -> frozenset[str]:
    """``sensitive_keys`` of every registered version of ``proc``'s procedure (and of
    ``proc``): what the views over many instances at once (ledgers and their exports, the
    KPI dashboard and drill-down, the search boxes) mask and refuse to filter, sort or search
    by. Their instances are pinned to different versions, and a value recorded under a
    version that marks it sensitive stays masked there after a later version drops the
    mark, as it stays masked on its own instance page."""
    out = set(sensitive_keys(proc))
    for rt in workflow.versions(session, proc.id):
        out |= sensitive_keys(rt.procedure)
    return frozenset(out)


def _sensitive_keys(proc: Procedure) -> frozenset[str]:
    out = set()
    for sid in ("start", *proc.steps):
        form = proc.form_of(sid) if sid == "start" or proc.steps[sid].form else None
        if form is not None:
            out |= {f"{sid}.{path}" for path in form.sensitive_paths}
    fields = frozenset(k.split("[", 1)[0] for k in out)
    for sid, step in proc.steps.items():
        for key, expr in step.with_:
            if any(_reads(name, k) for name in expr.names for k in fields):
                out.add(f"{sid}.{key}")
    return frozenset(out)


def _reads(name: str, key: str) -> bool:
    """Whether the expression name ``name`` (``start.phone``, ``start``) reads ``key``."""
    return name == key or key.startswith(name + ".") or name.startswith(key + ".")


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def _segments(path: str) -> list[str]:
    """``contacts[].phone`` as ``["contacts", "[]", "phone"]``."""
    out = []
    for part in path.split("."):
        items = 0
        while part.endswith("[]"):
            part, items = part[:-2], items + 1
        out += [part, *["[]"] * items]
    return out


def top_key(key: str) -> str:
    """The ``STEP.FIELD`` (the field as the form's top names it) a sensitive key sits in:
    ``docs.contacts`` for ``docs.contacts[].phone``. The access log names these."""
    sid, _sep, path = key.partition(".")
    return f"{sid}.{_segments(path)[0]}"


def masked_fields(keys: frozenset[str], reader: Reader) -> frozenset[str]:
    """The ``STEP.FIELD`` s whose values ``reader`` sees masked (none when cleared): what a
    finding about a record (``audit.check_shown``) must not print either."""
    return frozenset() if reader.cleared else frozenset(top_key(k) for k in keys)


def _step_paths(keys: frozenset[str], step: str) -> dict[str, list[list[str]]]:
    """``{field: [path below it, ...]}`` of the sensitive keys of ``step`` (``[]`` for the
    field itself)."""
    out: dict[str, list[list[str]]] = {}
    for key in keys:
        sid, _sep, path = key.partition(".")
        if sid == step:
            segs = _segments(path)
            out.setdefault(segs[0], []).append(segs[1:])
    return out


def _mask_at(value: Any, segs: list[str], hide: bool) -> tuple[Any, bool]:
    """``value`` with the filled values at ``segs`` below it masked (when ``hide``; a copy,
    the original is left alone), and whether any was filled."""
    if not segs:
        return (MASK if hide else value, True) if _filled(value) else (value, False)
    head, rest = segs[0], segs[1:]
    if head == "[]":
        if not isinstance(value, list):
            return value, False
        items = [_mask_at(v, rest, hide) for v in value]
        return ([v for v, _hit in items] if hide else value), any(hit for _v, hit in items)
    if not isinstance(value, Mapping) or head not in value:
        return value, False
    inner, hit = _mask_at(value[head], rest, hide)
    return ({**value, head: inner} if hide and hit else value), hit


def mask_data(keys: frozenset[str], step: str, data: Mapping[str, Any] | None,
              reader: Reader) -> tuple[dict[str, Any], set[str]]:
    """``data`` of ``step`` with sensitive values masked (unless the reader is cleared),
    and the keys of the sensitive values actually shown (for the access log).

    Only the sensitive values are masked: below the top, each filled cell of a table column
    and each filled property of a group; the log names the field at the top
    (``docs.contacts``)."""
    data = dict(data or {})
    shown = set()
    for field, paths in _step_paths(keys, step).items():
        if field not in data:
            continue
        value, hit = data[field], False
        for segs in paths:
            value, h = _mask_at(value, segs, not reader.cleared)
            hit |= h
        if not hit:
            continue
        if reader.cleared:
            shown.add(f"{step}.{field}")
        else:
            data[field] = value
    return data, shown


def _tops(keys: frozenset[str]) -> frozenset[str]:
    return frozenset(top_key(k) for k in keys)


def file_field(keys: frozenset[str], step: str | None, entry: Mapping[str, Any]) -> str | None:
    """The sensitive field (its top key, ``STEP.FIELD``) a file the trail records
    (``files:recorded``: ``entry`` of ``step``'s event) is held in, "" for a file recorded
    without its field (migration 0024) in a procedure with a sensitive field, or None when
    the file is not sensitive. The one rule of which files are masked: their trail entry,
    the dossier's list of files and their download."""
    if not keys:
        return None
    top = top_key(f"{step or 'start'}.{entry['field']}") if entry.get("field") else ""
    return None if top and top not in _tops(keys) else top


def file_fields(keys: frozenset[str], events: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    """Each file held by a record, by its ``uploads.file_ref``, with ``file_field``: the
    sensitive field it is in, or None. A file the trail does not record at all (a row added
    behind the application's back) counts as sensitive in a procedure with a sensitive
    field (``held_file_field``)."""
    return {str(f.get("file")): file_field(keys, e.get("step"), f)
            for e in events if e.get("type") == "files:recorded"
            for f in ((e.get("data") or {}).get("files") or []) if isinstance(f, Mapping)}


def held_file_field(keys: frozenset[str], fields: Mapping[str, str | None], ref: str) -> str | None:
    """``file_field`` of a file held by a record (``ref``: its ``uploads.file_ref``), from
    ``file_fields`` of its trail."""
    return fields.get(ref, "" if keys else None)


def mask_event(keys: frozenset[str], event: Mapping[str, Any], reader: Reader) -> tuple[dict[str, Any], set[str]]:
    """An event dict (``type, step, data``...) with sensitive values in its data masked. A
    correction replaces a field's whole value: the correction of a field holding sensitive
    values anywhere below it is masked as a whole. An event with anything masked has its
    ``hash`` masked too (``mask_events`` also masks the next event's ``prev_hash``)."""
    e = dict(event)
    d = dict(e.get("data") or {})
    step = e.get("step") or "start"
    shown: set[str] = set()
    if isinstance(d.get("data"), Mapping):
        d["data"], shown = mask_data(keys, step, d["data"], reader)
    if e.get("type") == "data:corrected" and f"{step}.{d.get('field')}" in _tops(keys):
        if reader.cleared:
            shown.add(f"{step}.{d.get('field')}")
        else:
            d["old"] = d["new"] = MASK
    if e.get("type") == "files:recorded" and isinstance(d.get("files"), list) and keys:
        # A file of a sensitive field: its hash confirms a guessed file (an ID card's scan).
        # Files recorded without their field (migration 0024) count as such wherever the
        # procedure has a sensitive field.
        files = []
        for f in d["files"]:
            top = file_field(keys, step, f)
            if top is None:
                files.append(f)
            elif reader.cleared:
                shown |= {top} if top else set()
                files.append(f)
            else:
                files.append({**f, **{k: MASK for k in ("file", "sha256", "size", "name") if k in f}})
        d["files"] = files
    if isinstance(d.get("signature"), Mapping):
        d["signature"] = without_data_hash(keys, d["signature"], reader)
    if keys and not reader.cleared and e.get("hash") and d != (event.get("data") or {}):
        # The chain's hash is the SHA-256 of the event as stored, with no key: beside the
        # rest of the event in clear, it confirms a guessed masked value. (Nothing is masked
        # without sensitive keys or for a cleared reader: no need to compare the whole data
        # of every event of every answer.)
        e["hash"] = MASK
    e["data"] = d
    return e, shown


def without_data_hash(keys: frozenset[str], signature: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
    """A signature record as ``reader`` sees it: its ``data_hash`` (SHA-256 of the record's
    data when signed) masked in a procedure with sensitive fields for a reader without
    clearance. With every other value of that data in clear, the hash confirms a guessed
    masked value offline (a mobile number is 10^8 guesses); who signed, when and the
    meaning stay."""
    if not keys or reader.cleared or "data_hash" not in signature:
        return dict(signature)
    return {**signature, "data_hash": MASK}


def mask_corrections(keys: frozenset[str], corrections: Mapping[str, list[dict]],
                     reader: Reader) -> tuple[dict[str, list[dict]], set[str]]:
    """Corrections by ``STEP.FIELD``; those of a field holding sensitive values (at the top
    or anywhere below) masked as a whole."""
    out, shown = {}, set()
    tops = _tops(keys)
    for key, items in corrections.items():
        if key in tops:
            if reader.cleared:
                shown.add(key)
            else:
                items = [{**c, "old": MASK, "new": MASK} for c in items]
        out[key] = [{**c, "signature": without_data_hash(keys, c["signature"], reader)}
                    if isinstance(c.get("signature"), Mapping) else c for c in items]
    return out, shown


def mask_events(keys: frozenset[str], events: Iterable[Mapping[str, Any]],
                reader: Reader) -> tuple[list[dict[str, Any]], set[str]]:
    out, shown = [], set()
    for event in events:
        e, s = mask_event(keys, event, reader)
        if out and out[-1].get("hash") == MASK and e.get("prev_hash"):
            e["prev_hash"] = MASK  # the hash masked on the event before, repeated
        out.append(e)
        shown |= s
    return out, shown


def mask_instance(keys: frozenset[str], inst: Mapping[str, Any],
                  reader: Reader) -> tuple[dict[str, Any], set[str]]:
    """A copy of ``Workflow.instance(...)`` with sensitive values masked in its data, its
    corrections, the data of its spawn links and (when present) its history, and its
    signatures' ``data_hash`` (``without_data_hash``)."""
    out = dict(inst)
    shown: set[str] = set()
    data = {}
    for sid, values in (inst.get("data") or {}).items():
        data[sid], s = mask_data(keys, sid, values, reader) if isinstance(values, Mapping) else (values, set())
        shown |= s
    out["data"] = data
    out["corrections"], s = mask_corrections(keys, inst.get("corrections") or {}, reader)
    shown |= s
    if inst.get("links"):
        links = []
        for link in inst["links"]:
            link = dict(link)
            if isinstance(link.get("data"), Mapping):
                link["data"], s = mask_data(keys, link.get("step") or "", link["data"], reader)
                shown |= s
            links.append(link)
        out["links"] = links
    if isinstance(inst.get("tasks"), list):
        out["tasks"] = [{**t, "signature": without_data_hash(keys, t["signature"], reader)}
                        if isinstance(t, Mapping) and isinstance(t.get("signature"), Mapping) else t
                        for t in inst["tasks"]]
    if "history" in inst:
        out["history"], s = mask_events(keys, inst["history"], reader)
        shown |= s
    return out, shown


def sensitive_columns(keys: frozenset[str], columns: Iterable[str]) -> frozenset[str]:
    """The ledger columns (``STEP.FIELD``, ``STEP.GROUP.FIELD``) that show a sensitive
    value: marked themselves, or inside a group marked as a whole. (A column is a single
    value, never a table's, so no column sits below a ``[]``.)"""
    plain = [k for k in keys if "[" not in k]
    return frozenset(c for c in columns if any(c == k or c.startswith(k + ".") for k in plain))


def refuse_reading_back(reader: Reader, fields: Iterable[str], titles: Mapping[str, str]) -> None:
    """Refuse (403, naming the first field) a filter, sort, drill-down or value search on
    sensitive ``fields`` by a reader without clearance: the answer would tell the value."""
    fields = sorted(set(fields))
    if fields and not reader.cleared:
        raise NotPermitted(_("You may not filter, sort or search by '{title}' ({field}): it is a "
                             "sensitive field and you are not cleared to see its values. Remove it "
                             "from the query, or ask an administrator for clearance (data-officers).",
                             title=titles.get(fields[0]) or fields[0], field=fields[0]))


def log_reading_back(database: Database, reader: Reader, procedure_id: str,
                     fields: Iterable[str], view: str) -> None:
    """A cleared reader's filter, sort, drill-down or value search on sensitive ``fields``,
    logged as a view in clear of those fields (of every instance: instance ``*``)."""
    fields = {top_key(f) for f in fields}
    if fields and reader.cleared:
        record_views(database, reader, [("*", procedure_id, fields)], view)


def in_clear(reader: Reader) -> Reader:
    """The reader as one working on an open task of the instance: sees values in clear (the
    views are logged all the same)."""
    return replace(reader, cleared=True)


def holds_mask(value: Any) -> bool:
    """Whether ``MASK`` appears anywhere in submitted data (at the top, in a group or in a
    table cell): a cheap test before looking up what is sensitive."""
    if isinstance(value, Mapping):
        return any(holds_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_mask(v) for v in value)
    return value == MASK


def _masks_at(value: Any, segs: list[str], where: str) -> list[str]:
    """Dotted paths (``contacts.0.phone``) where ``MASK`` stands along ``segs``: at the
    sensitive value itself or at any level above it (a table sent back as the mask)."""
    if value == MASK:
        return [where]
    if not segs:
        return []
    head, rest = segs[0], segs[1:]
    if head == "[]":
        if not isinstance(value, list):
            return []
        return [p for i, v in enumerate(value) for p in _masks_at(v, rest, f"{where}.{i}")]
    if isinstance(value, Mapping) and head in value:
        return _masks_at(value[head], rest, f"{where}.{head}")
    return []


def mask_errors(keys: frozenset[str], step: str, data: Mapping[str, Any] | None) -> list[dict]:
    """``{field, message}`` for each sensitive value of ``step`` submitted as ``MASK``
    (``field`` is its dotted path: ``contact_phone``, ``contacts.0.phone``): the mask
    stands for a value the user was not shown, so storing it would lose that value."""
    data = data or {}
    sensitive = _step_paths(keys, step)
    found: list[str] = []
    for field, value in data.items():
        for segs in sorted(sensitive.get(field, ())):
            found += [p for p in _masks_at(value, segs, field) if p not in found]
    return [{"field": path, "message": _("'{mask}' only stands for a hidden sensitive value; "
                                         "enter the real value or leave the field empty.", mask=MASK)}
            for path in found]


def refuse_mask(keys: frozenset[str], step: str, data: Mapping[str, Any] | None) -> None:
    errors = mask_errors(keys, step, data)
    if errors:
        raise FormInvalid(errors[0]["message"], errors=errors)


def _without(value: Any, paths: list[list[str]]) -> Any:
    """``value`` with the values at ``paths`` blanked: what identifies a table row apart from
    its sensitive cells."""
    for segs in paths:
        value = _blank_at(value, segs)
    return value


def _blank_at(value: Any, segs: list[str]) -> Any:
    if not segs:
        return None
    head, rest = segs[0], segs[1:]
    if head == "[]":
        return [_blank_at(v, rest) for v in value] if isinstance(value, list) else value
    if isinstance(value, Mapping) and head in value:
        return {**value, head: _blank_at(value[head], rest)}
    return value


def _restore(value: Any, recorded: Any, paths: list[list[str]]) -> Any:
    """``value`` with each ``MASK`` along ``paths`` replaced by what ``recorded`` holds there.

    Table rows are paired with recorded rows by what they hold apart from their sensitive
    cells: the row at the same position if that is the same, else the first such recorded
    row; a row that pairs with none (edited, added) keeps its mask (refused)."""
    if value == MASK:
        return recorded if _filled(recorded) else value
    if [] in paths:
        return value
    if isinstance(value, Mapping) and isinstance(recorded, Mapping):
        out = dict(value)
        for name in {segs[0] for segs in paths if segs[0] != "[]"}:
            if name in value:
                out[name] = _restore(value[name], recorded.get(name),
                                     [segs[1:] for segs in paths if segs[0] == name])
        return out
    rows = [segs[1:] for segs in paths if segs[0] == "[]"]
    if isinstance(value, list) and isinstance(recorded, list) and rows:
        kept = [_without(r, rows) for r in recorded]
        out_rows = []
        for i, row in enumerate(value):
            if not holds_mask(row):
                out_rows.append(row)
                continue
            bare = _without(row, rows)
            order = ([i] if i < len(recorded) else []) + [j for j in range(len(recorded)) if j != i]
            match = next((j for j in order if kept[j] == bare), None)
            out_rows.append(row if match is None else _restore(row, recorded[match], rows))
        return out_rows
    return value


def keep_masked(keys: frozenset[str], step: str, data: Mapping[str, Any],
                recorded: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[dict]]:
    """A step that runs again, resubmitted from what a masked read showed: each sensitive
    value sent as ``MASK`` keeps the value recorded for it (the submission replaces the
    step's data, so leaving it out would clear it): a field's, a group property's, or a
    table cell's, of the recorded row that holds the same apart from its sensitive cells.
    Errors (``mask_errors``) for a ``MASK`` where nothing is recorded (or no row pairs)."""
    recorded = recorded if isinstance(recorded, Mapping) else {}
    out = dict(data)
    for field, paths in _step_paths(keys, step).items():
        if field in data and holds_mask(data[field]):
            out[field] = _restore(data[field], recorded.get(field), paths)
    return out, mask_errors(keys, step, out)


def record_views(database: Database, reader: Reader,
                 entries: Iterable[tuple[str, str, Iterable[str]]], view: str) -> None:
    """Log unmasked views in a transaction of their own (reads never write otherwise)."""
    kept = [(i, p, sorted(set(f))) for i, p, f in entries if f]
    if not kept:
        return
    with database.writing() as session:
        log_access(session, kept, username=reader.username, view=view, now=datetime.now(UTC))
