"""The step editor's form: a step's properties as the form shows them, and the form's
answer back as the changes ``yaml_edit.set_step`` writes.

Request parsing only: what a property means and what is valid is decided by the language
(``engine.language``: the condition builder writes the expressions, the validator checks the
draft). A property the form shows unchanged yields the value the file already has (the same
set of steps in another order, ``escalate: ROLE`` for one level at the due time, a condition
the pickers read back), so saving an untouched form changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.datastructures import MultiDict

from engine.language import condition_builder as cb
from engine.language.procedure import Procedure
from web.i18n import _

#: Keys whose value is a set written as a list: the same members in another order are no change.
SETS = ("hide", "edit", "separate_from", "return_to", "cc", "branches")
#: What a key means when it is absent: the form sending it changes nothing.
DEFAULTS: dict[str, Any] = {"type": "task", "transfer": True, "recall": False, "cc_add": False,
                            "again": False, "ends_instance": False,
                            "resume": "again", "mode": "all", "rejection": "veto", "skip_repeated": False}
APPROVER_KINDS = ("role", "user", "field", "manager", "head_of", "pick")
BLANK_ROUTES = 1  # empty routes and rows offered below the existing ones (more with the + buttons)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- conditions


def cond_view(source: Any, fields: Sequence[cb.Choice]) -> dict[str, Any]:
    """A condition as the form shows it: picker rows when the builder reads it back
    unchanged, else the code box with the expression as written."""
    source = _text(source)
    parsed = cb.parse(source) if source else None
    if source and (parsed is None or not _showable(parsed, fields)):
        return {"mode": "code", "join": "and", "rows": [_blank_row()], "code": source}
    rows = [{"field": r.field, "op": r.op, "values": [_shown(v) for v in r.values]}
            for r in (parsed.rows if parsed else ())]
    return {"mode": "pick", "join": parsed.join if parsed else "and", "rows": [*rows, _blank_row()], "code": source}


def _showable(cond: cb.Condition, fields: Sequence[cb.Choice]) -> bool:
    """Whether the pickers can show ``cond`` as written: every field is offered, every value
    of a choice field is one of its choices, in the order the choices are listed."""
    offered = {c.ref: c for c in fields}
    for row in cond.rows:
        field = offered.get(row.field)
        if field is None:
            return False
        if field.choices and row.op in ("eq", "ne", "in", "not_in"):
            values = [str(v) for v in row.values]
            if any(v not in field.choices for v in values):
                return False
            if values != sorted(values, key=field.choices.index):
                return False
    return True


def _blank_row() -> dict[str, Any]:
    return {"field": "", "op": "", "values": []}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cond_from_form(f: MultiDict, prefix: str, fields: Sequence[cb.Choice]) -> str:
    """The expression a condition's pickers (or code box) give; "" when nothing is chosen."""
    if f.get(f"{prefix}_mode") == "code":
        return (f.get(f"{prefix}_code") or "").replace("\r\n", "\n").strip()
    kinds = {c.ref: c.kind for c in fields}
    rows = []
    for j in range(100):
        if f"{prefix}_f{j}" not in f:
            continue
        field = f.get(f"{prefix}_f{j}", "")
        if not field:
            continue
        op = f.get(f"{prefix}_o{j}", "") or cb.operators_for(kinds.get(field, "text"))[0]
        values = [v for v in f.getlist(f"{prefix}_v{j}") if v.strip()]
        rows.append(cb.typed_row(field, op, values, kinds.get(field, "text"), len(rows) + 1))
    if not rows:
        return ""
    return cb.build(cb.Condition(f.get(f"{prefix}_join", "and"), tuple(rows)))


# --------------------------------------------------------------------------- the step as shown


def _levels(escalate: Any) -> list[dict[str, str]]:
    if isinstance(escalate, str):
        return [{"after": "0h", "to": escalate, "fallback": ""}]
    out = []
    for lvl in escalate or []:
        if isinstance(lvl, Mapping):
            out.append({"after": _text(lvl.get("after")), "to": _text(lvl.get("to")),
                        "fallback": _text(lvl.get("fallback"))})
    return out


def _approver_rows(approvers: Any) -> list[dict[str, str]]:
    rows = []
    for entry in approvers or []:
        if not isinstance(entry, Mapping):
            continue
        kind = next((k for k in APPROVER_KINDS if k in entry), "role")
        value = entry.get(kind)
        row = {"kind": kind, "value": _text(value), "levels": _text(entry.get("levels")), "field": ""}
        if kind == "pick" and isinstance(value, Mapping):
            row.update(value=_text(value.get("from")), field=_text(value.get("field")))
        rows.append(row)
    return rows


def step_view(model: Mapping[str, Any], proc: Procedure, sid: str) -> dict[str, Any]:
    """Everything the edit form shows of step ``sid`` (``model``: ``yaml_edit.step_model``)."""
    own = cb.fields_before(proc, sid, own=True)
    before = cb.fields_before(proc, sid, own=False)
    dl = model.get("deadline") if isinstance(model.get("deadline"), Mapping) else {}
    within = dl.get("within")
    dates = {c.ref: c.fmt for c in before if c.fmt}
    due = cb.parse_due(_text(dl.get("due_expr")), dates) if dl.get("due_expr") else None
    if not dl:
        dkind = "none"
    elif isinstance(within, list):
        dkind = "cases"
    elif within is not None:
        dkind = "within"
    elif due is not None:
        dkind = "due"
    else:
        dkind = "code"
    cases = []
    else_within = ""
    for case in within if isinstance(within, list) else []:
        if isinstance(case, Mapping) and "else" in case:
            else_within = _text(case["else"])
        elif isinstance(case, Mapping):
            cases.append({"cond": cond_view(case.get("if"), before), "then": _text(case.get("then"))})
    cases.append({"cond": cond_view("", before), "then": ""})
    nxt = model.get("next")
    routes, else_to = [], ""
    for item in nxt if isinstance(nxt, list) else []:
        if isinstance(item, Mapping) and "else" in item:
            else_to = _text(item["else"])
        elif isinstance(item, Mapping):
            routes.append({"cond": cond_view(item.get("if"), own), "goto": _text(item.get("goto"))})
    routes += [{"cond": cond_view("", own), "goto": ""} for _ in range(BLANK_ROUTES)]
    sig = model.get("signature")
    mode = model.get("mode", "all")
    nobody = model.get("if_nobody")
    cc = [str(x) for x in model.get("cc") or []]
    return {
        "id": sid, "type": model.get("type", "task"), "title": _text(model.get("title")),
        "description": _text(model.get("description")), "instructions": _text(model.get("instructions")),
        "role": _text(model.get("role")), "form": _text(model.get("form")), "outcome": _text(model.get("outcome")),
        "signature": _text(sig.get("meaning") if isinstance(sig, Mapping) else sig),
        "separate_from": list(model.get("separate_from") or []), "on_correction": _text(model.get("on_correction")),
        "on_reject": _text(model.get("on_reject")),
        "approvers": [*_approver_rows(model.get("approvers")), {"kind": "role", "value": "", "levels": "", "field": ""}],
        "mode": next(iter(mode)) if isinstance(mode, Mapping) and mode else _text(mode),
        "mode_n": _text(next(iter(mode.values()))) if isinstance(mode, Mapping) and mode else "",
        "rejection": _text(model.get("rejection", "veto")),
        "if_nobody": f"role:{nobody.get('role')}" if isinstance(nobody, Mapping) else _text(nobody),
        "skip_repeated": bool(model.get("skip_repeated")),
        "add_from": _text((model.get("add_approver") or {}).get("from")) if isinstance(model.get("add_approver"), Mapping) else "",
        "transfer": model.get("transfer", True) is not False, "recall": bool(model.get("recall")),
        "return_to": list(model.get("return_to") or []), "resume": _text(model.get("resume", "again")),
        "cc": [c for c in cc if not c.startswith("user:")],
        "cc_users": ", ".join(c[5:] for c in cc if c.startswith("user:")), "cc_add": bool(model.get("cc_add")),
        "hide": list(model.get("hide") or []), "edit": list(model.get("edit") or []),
        "prefill": [*({"field": str(k), "source": _text(v)} for k, v in (model.get("prefill") or {}).items()),
                    {"field": "", "source": ""}],
        "deadline": {"kind": dkind, "within": _text(within) if not isinstance(within, list) else "",
                     "cases": cases, "else": else_within,
                     "due": {"field": due.field, "amount": due.amount or "", "unit": due.unit} if due else
                            {"field": "", "amount": "", "unit": "days"},
                     "code_key": "within_expr" if "within_expr" in dl else "due_expr",
                     "code": _text(dl.get("within_expr") or dl.get("due_expr")),
                     "calendar": _text(dl.get("calendar")), "remind": _text(dl.get("remind_before")),
                     "levels": [*_levels(dl.get("escalate")), {"after": "", "to": "", "fallback": ""}]},
        "duration": _text(model.get("duration")), "until": _text(model.get("until")), "offset": _text(model.get("offset")),
        "procedure": _text(model.get("procedure")), "again": bool(model.get("again")),
        "with_rows": [*({"field": str(k), "value": _text(v)} for k, v in (model.get("with") or {}).items()),
                      {"field": "", "value": ""}],
        "branches": list(model.get("branches") or []), "join": _text(model.get("join")),
        "ends_instance": bool(model.get("ends_instance")),
        "next_kind": "routes" if isinstance(nxt, list) else "one", "next_one": _text(nxt) if isinstance(nxt, str) else "",
        "routes": routes, "else": else_to, "has_next": "next" in model or model.get("type") not in ("end", "parallel"),
    }


# --------------------------------------------------------------------------- the form's answer


def _rows(f: MultiDict, *names: str) -> list[tuple[str, ...]]:
    """Aligned lists (one input per row and name), rows with every cell empty left out."""
    cols = [f.getlist(n) for n in names]
    out = []
    for i in range(max((len(c) for c in cols), default=0)):
        row = tuple((c[i] if i < len(c) else "").strip() for c in cols)
        if any(row):
            out.append(row)
    return out


def _escalate(f: MultiDict) -> Any:
    levels = []
    for after, to, fallback in _rows(f, "lvl_after", "lvl_to", "lvl_fallback"):
        lvl = {"after": after, "to": to}
        if fallback:
            lvl["fallback"] = fallback
        levels.append(lvl)
    return levels


def _same_levels(old: Any, new: list[dict[str, str]]) -> bool:
    return [tuple(lv.values()) for lv in _levels(old)] == [
        (lv["after"], lv["to"], lv.get("fallback", "")) for lv in new]


def _deadline(f: MultiDict, old: Mapping[str, Any], before: Sequence[cb.Choice]) -> dict[str, Any] | None:
    kind = f.get("deadline_kind", "none")
    if kind == "none":
        return None
    out = {k: v for k, v in old.items() if k not in ("within", "within_expr", "due_expr")}
    if kind == "within":
        out["within"] = f.get("within", "").strip()
    elif kind == "cases":
        cases: list[dict[str, Any]] = []
        for i in range(100):
            if f"case{i}_then" not in f:
                continue
            cond = cond_from_form(f, f"case{i}", before)
            then = f.get(f"case{i}_then", "").strip()
            if cond or then:
                cases.append({"if": cond, "then": then})
        cases.append({"else": f.get("deadline_else", "").strip()})
        out["within"] = cases
    elif kind == "due":
        fmts = {c.ref: c.fmt for c in before if c.fmt}
        field = f.get("due_field", "")
        amount = f.get("due_amount", "").strip()
        if amount and not amount.isdigit():
            raise cb.BuildError(_("the offset '{value}' is not a whole number; write e.g. 3", value=amount))
        out["due_expr"] = cb.build_due(cb.DueDate(field, int(amount or 0), f.get("due_unit", "days")),
                                       fmts.get(field))
    else:
        code = (f.get("deadline_code") or "").replace("\r\n", "\n").strip()
        out["within_expr" if f.get("deadline_code_key") == "within_expr" else "due_expr"] = code
    for key, name in (("calendar", "calendar"), ("remind_before", "remind_before")):
        if name in f:
            out[key] = f.get(name, "").strip()
    if "lvl_to" in f:
        levels = _escalate(f)
        if _same_levels(old.get("escalate"), levels):
            pass  # as written (escalate: ROLE is one level at the due time)
        elif len(levels) == 1 and levels[0]["after"] in ("0h", "0m", "0d") and "fallback" not in levels[0]:
            out["escalate"] = levels[0]["to"]
        else:
            out["escalate"] = levels
    return {k: v for k, v in out.items() if v not in ("", None, [])}


def _approvers(f: MultiDict) -> list[dict[str, Any]]:
    out = []
    for kind, value, levels, field in _rows(f, "ap_kind", "ap_value", "ap_levels", "ap_field"):
        if not value:
            continue
        entry: dict[str, Any] = {kind: {"from": value, "field": field} if kind == "pick" else value}
        if levels:
            entry["levels"] = int(levels) if levels.lstrip("-").isdigit() else levels
        out.append(entry)
    return out


def _mode(f: MultiDict) -> Any:
    mode = f.get("mode", "all")
    if mode in ("at_least", "share"):
        raw = f.get("mode_n", "").strip()
        try:
            number: Any = int(raw) if mode == "at_least" else float(raw)
        except ValueError:
            raise cb.BuildError(_("'{mode}' needs a number; write e.g. 2 (at least) or 0.6 (share)",
                                     mode=mode)) from None
        return {mode: number}
    return mode


def changes_from_form(f: MultiDict, model: Mapping[str, Any], proc: Procedure, sid: str) -> dict[str, Any]:
    """What the edit form asks to change, as ``yaml_edit.set_step`` changes; keys the form
    shows unchanged are left out. ``condition_builder.BuildError`` for rows that make no
    expression."""
    own = cb.fields_before(proc, sid, own=True)
    before = cb.fields_before(proc, sid, own=False)
    stype = model.get("type", "task")
    want: dict[str, Any] = {}
    for key in ("title", "description", "instructions", "role", "form", "outcome", "on_reject", "on_correction",
                "resume", "rejection"):
        if key in f:
            want[key] = f.get(key, "").replace("\r\n", "\n").strip()
    if "type" in f and stype in ("task", "approval"):
        want["type"] = f.get("type") if f.get("type") in ("task", "approval") else stype
    if "signature" in f:
        sig = f.get("signature", "").strip()
        old = model.get("signature")
        want["signature"] = old if isinstance(old, Mapping) and old.get("meaning") == sig else sig
    if f.get("sets_shown"):
        for key in ("separate_from", "return_to", "hide", "edit"):
            want[key] = [v for v in f.getlist(key) if v]
        users = [u.strip() for u in f.get("cc_users", "").replace("，", ",").split(",") if u.strip()]
        want["cc"] = [v for v in f.getlist("cc") if v] + [f"user:{u}" for u in users]
    if f.get("flags_shown"):
        for key in ("transfer", "recall", "cc_add", "skip_repeated"):
            want[key] = bool(f.get(key))
    if f.get("kind_shown"):
        if stype == "wait":
            for key in ("duration", "until", "offset"):
                want[key] = f.get(key, "").strip()
        elif stype == "spawn":
            want["procedure"] = f.get("procedure", "").strip()
            want["with"] = {k: v for k, v in _rows(f, "with_field", "with_value") if k and v}
            want["again"] = bool(f.get("again"))
        elif stype == "parallel":
            want["branches"] = [v for v in f.getlist("branches") if v]
            want["join"] = f.get("join", "")
        elif stype == "end":
            want["ends_instance"] = bool(f.get("ends_instance"))
    if "pf_field" in f:
        want["prefill"] = {k: v for k, v in _rows(f, "pf_field", "pf_source") if k and v}
    if "deadline_kind" in f:
        old = model.get("deadline") if isinstance(model.get("deadline"), Mapping) else {}
        want["deadline"] = _deadline(f, old, before)
    if "next_kind" in f:
        if f.get("next_kind") == "routes":
            routes: list[dict[str, str]] = []
            for i in range(100):
                if f"route{i}_goto" not in f:
                    continue
                cond = cond_from_form(f, f"route{i}", own)
                goto = f.get(f"route{i}_goto", "")
                if cond or goto:
                    routes.append({"if": cond, "goto": goto})
            want["next"] = [*routes, {"else": f.get("next_else", "")}]
        else:
            want["next"] = f.get("next_one", "")
    if "ap_kind" in f and stype == "approval":
        want["approvers"] = _approvers(f)
        want["mode"] = _mode(f)
        nobody = f.get("if_nobody", "")
        want["if_nobody"] = {"role": nobody[5:]} if nobody.startswith("role:") else nobody
        add_from = f.get("add_from", "")
        old_add = model.get("add_approver")
        want["add_approver"] = (old_add if isinstance(old_add, Mapping) and old_add.get("from") == add_from
                                else {"from": add_from} if add_from else None)
    return {k: v for k, v in want.items() if not _unchanged(k, model, v)}


def _unchanged(key: str, model: Mapping[str, Any], value: Any) -> bool:
    if key not in model:
        return value in (None, "", [], {}) or (key in DEFAULTS and value == DEFAULTS[key])
    old = model[key]
    if key in SETS and isinstance(old, list) and isinstance(value, list):
        return sorted(map(str, old)) == sorted(map(str, value))
    if isinstance(old, str) and isinstance(value, str):
        return old.strip() == value.strip()
    return old == value
