"""A change between two versions of a procedure in words, for the people who approve it.

Reviewers of a change judged a whole-file YAML diff; they read procedures, not YAML. This
compares the two parsed procedures (steps, roles, deadlines, routes, approvers, forms and their
fields) and says what changed as a quality engineer would write it: "步骤 产品检验 的期限
3wd → 2wd", "表单 售后产品检验记录 增加字段 环境温度". The text diff stays below it for
whatever the words do not cover. Pure: both procedures are already parsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.i18n import _
from engine.language.forms import Form
from engine.language.procedure import MANAGER, Procedure, Step

__all__ = ["summarize"]


def _duration(d: Any) -> str:
    return f"{d.amount}{d.unit}" if d is not None else "—"


def _deadline(step: Step) -> str:
    dl = step.deadline
    if dl is None:
        return "—"
    if dl.within is not None:
        return _duration(dl.within)
    return _("from the data") if (dl.due_expr or dl.within_expr) else _("by case")


def _escalation(proc: Procedure, step: Step) -> str:
    """Each level's delay and whom it goes to: a role by its title, the holder's manager in words."""
    if step.deadline is None or not step.deadline.escalate:
        return "—"
    return ", ".join(f"+{_duration(e.after)} → "
                     + (_("the holder's manager") if e.to == MANAGER and e.to not in proc.roles else _role(proc, e.to))
                     for e in step.deadline.escalate)


def _routes(step: Step, titles: dict[str, str]) -> str:
    parts = []
    for t in step.next:
        target = titles.get(t.target, t.target)
        parts.append(f"{t.condition.source} → {target}" if t.condition is not None else target)
    return "; ".join(parts) or "—"


def _approvers(proc: Procedure, step: Step) -> str:
    a = step.approvers
    if a is None:
        return "—"
    who = ", ".join(f"{s.kind}: {_role(proc, s.value) if s.kind in ('role', 'pick') else s.value}" for s in a.sources)
    mode = {"at_least": f"at_least {a.at_least}", "share": f"share {a.share}"}.get(a.mode, a.mode)
    return f"{who} ({mode})"


def _role(proc: Procedure, role: str | None) -> str:
    return proc.roles.get(role or "", role or "—")


def _form(proc: Procedure, form_id: str | None) -> str:
    """A step's form by its title (its id where the procedure does not hold it)."""
    form = proc.forms.get(form_id or "")
    return (form.title if form is not None and form.title else form_id) or "—"


def _step_changes(old: Procedure, new: Procedure, o: Step, n: Step) -> Iterable[str]:
    title = n.title
    old_titles = {s.id: s.title for s in old.steps.values()}
    new_titles = {s.id: s.title for s in new.steps.values()}
    checks: list[tuple[str, str, str]] = [
        (_("title"), o.title, n.title),
        (_("type"), _(o.type), _(n.type)),
        (_("role"), _role(old, o.role), _role(new, n.role)),
        (_("form"), _form(old, o.form), _form(new, n.form)),
        (_("signature"), o.signature or "—", n.signature or "—"),
        (_("deadline"), _deadline(o), _deadline(n)),
        (_("reminder"), _duration(o.deadline.remind_before) if o.deadline else "—",
         _duration(n.deadline.remind_before) if n.deadline else "—"),
        (_("escalation"), _escalation(old, o), _escalation(new, n)),
        (_("next step"), _routes(o, old_titles), _routes(n, new_titles)),
        (_("when rejected"), old_titles.get(o.on_reject or "", o.on_reject or "—"),
         new_titles.get(n.on_reject or "", n.on_reject or "—")),
        (_("approvers"), _approvers(old, o), _approvers(new, n)),
    ]
    same_route = ([(x.target, x.condition.source if x.condition else None) for x in o.next]
                  == [(x.target, x.condition.source if x.condition else None) for x in n.next])
    for what, before, after in checks:
        if what == _("next step") and same_route:
            continue  # the same steps under new titles: the titles' own lines say so
        if what == _("when rejected") and o.on_reject == n.on_reject:
            continue
        if before != after:
            yield _("step {step}: {what} {old} → {new}", step=title, what=what, old=before, new=after)


def _field_title(form: Form, path: str) -> str:
    info = form.fields.get(path)
    return info.title if info is not None and info.title else path


def _form_changes(old: Form, new: Form) -> Iterable[str]:
    name = new.title or new.id
    if old.title != new.title:
        yield _("form {form}: title {old} → {new}", form=name, old=old.title, new=new.title)
    for path in new.fields:
        if path not in old.fields:
            yield _("form {form}: field {field} added", form=name, field=_field_title(new, path))
    for path in old.fields:
        if path not in new.fields:
            yield _("form {form}: field {field} removed", form=name, field=_field_title(old, path))
    for path, n in new.fields.items():
        o = old.fields.get(path)
        if o is None:
            continue
        field = _field_title(new, path)
        if o.title != n.title:
            yield _("form {form}: field {old} renamed {new}", form=name, old=o.title or path, new=n.title or path)
        if o.required != n.required:
            yield _("form {form}: field {field} is now required", form=name, field=field) if n.required else \
                _("form {form}: field {field} is now optional", form=name, field=field)
        if o.limits != n.limits or o.unit != n.unit:
            yield _("form {form}: field {field} specification {old} → {new}", form=name, field=field,
                    old=_limits(o.limits, o.unit), new=_limits(n.limits, n.unit))
        if o.enum != n.enum:
            yield _("form {form}: field {field} choices {old} → {new}", form=name, field=field,
                    old="、".join(map(str, o.enum or [])) or "—", new="、".join(map(str, n.enum or [])) or "—")
        if o.compute != n.compute:
            yield _("form {form}: field {field} computed as {old} → {new}", form=name, field=field,
                    old=o.compute or "—", new=n.compute or "—")


def _limits(limits: Any, unit: str | None) -> str:
    if not limits:
        return "—"
    low, high = limits
    text = f"{'' if low is None else low} ~ {'' if high is None else high}"
    return f"{text} {unit}" if unit else text


def summarize(old: Procedure | None, new: Procedure) -> list[str]:
    """What changed from ``old`` to ``new``, one sentence each in the current language; for a
    first version (``old`` None), what it consists of."""
    if old is None:
        return [_("new procedure {title}: {n} steps, roles {roles}", title=new.title, n=len(new.steps),
                  roles=", ".join(new.roles.values()))]
    out: list[str] = []
    if old.title != new.title:
        out.append(_("procedure title {old} → {new}", old=old.title, new=new.title))
    for rid, title in new.roles.items():
        if rid not in old.roles:
            out.append(_("role {role} added", role=title))
        elif old.roles[rid] != title:
            out.append(_("role {old} renamed {new}", old=old.roles[rid], new=title))
    for rid, title in old.roles.items():
        if rid not in new.roles:
            out.append(_("role {role} removed", role=title))
    if old.start_roles != new.start_roles:
        out.append(_("who starts it: {old} → {new}", old=", ".join(_role(old, r) for r in old.start_roles),
                     new=", ".join(_role(new, r) for r in new.start_roles)))
    for sid, step in new.steps.items():
        if sid not in old.steps:
            out.append(_("step {step} added", step=step.title))
        else:
            out.extend(_step_changes(old, new, old.steps[sid], step))
    for sid, step in old.steps.items():
        if sid not in new.steps:
            out.append(_("step {step} removed", step=step.title))
    for fid, form in new.forms.items():
        if fid not in old.forms:
            out.append(_("form {form} added", form=form.title or fid))
        else:
            out.extend(_form_changes(old.forms[fid], form))
    for fid, form in old.forms.items():
        if fid not in new.forms:
            out.append(_("form {form} no longer used", form=form.title or fid))
    return out
