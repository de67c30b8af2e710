"""A condition as people say it: ``inspect.verdict == "合格"`` reads 检验结论 是 合格.

The diagram and the step table showed conditions as code; quality staff read field titles and
words. The common shapes (a field compared with a value, ``in``/``not in`` a list, a yes/no
field, ``and``/``or``/``not``) are put in words with the field's title from its form; anything
else is shown as written, so nothing is ever hidden or guessed. Pure.
"""

from __future__ import annotations

import re

from engine.i18n import _
from engine.language.procedure import Procedure

__all__ = ["condition_words", "due_words", "split_top"]

_FIELD = r"([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)"
_VALUE = r"""("[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false)"""
_COMPARE = re.compile(rf"^{_FIELD}\s*(==|!=|>=|<=|>|<)\s*{_VALUE}$")
_MEMBER = re.compile(rf"^{_FIELD}\s+(not\s+in|in)\s*\[(.*)\]$")
_TRUTH = re.compile(rf"^(not\s+)?{_FIELD}$")
_EMPTY = re.compile(rf"^{_FIELD}\s+is\s+(not\s+)?none$")
_CONTAINS = re.compile(rf"^{_VALUE}\s+in\s+{_FIELD}$")
_BETWEEN = re.compile(rf"^\(\s*{_FIELD}\s*>=\s*{_VALUE}\s+and\s+([a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)\s*<=\s*{_VALUE}\s*\)$")
_SIGNS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _title(proc: Procedure, step: str, field: str) -> str:
    form = proc.form_of(step) if step == "start" or step in proc.steps else None
    info = form.fields.get(field) if form is not None else None
    if info is not None and info.title:
        return info.title
    if field in ("decision", "comment", "approvals", "rejections", "approvers") and step in proc.steps:
        return f"{proc.steps[step].title}{_(field)}"
    return f"{step}.{field}"


def _value(text: str) -> str:
    if text[:1] in "\"'":
        return text[1:-1]
    return {"true": _("yes"), "false": _("no")}.get(text, text)


def split_top(text: str, token: str) -> list[str]:
    """``text`` split at each top-level ``token`` (outside brackets and quotes)."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0 and text.startswith(token, i):
            parts.append(text[start:i])
            start = i + len(token)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _split(text: str, word: str) -> list[str] | None:
    """``text`` split at top-level `` and ``/`` or `` (outside brackets and quotes)."""
    parts = split_top(text, f" {word} ")
    return parts if len(parts) > 1 else None


def _one(proc: Procedure, text: str) -> str | None:
    text = text.strip()
    m = _BETWEEN.match(text)
    if m and f"{m.group(1)}.{m.group(2)}" == m.group(4):
        return _("{field} is between {low} and {high}", field=_title(proc, m.group(1), m.group(2)),
                 low=_value(m.group(3)), high=_value(m.group(5)))
    m = _EMPTY.match(text)
    if m:
        title = _title(proc, m.group(1), m.group(2))
        return _("{field} is filled in", field=title) if m.group(3) else _("{field} is empty", field=title)
    m = _CONTAINS.match(text)
    if m:
        return _("{field} contains {value}", field=_title(proc, m.group(2), m.group(3)), value=_value(m.group(1)))
    if text.startswith("(") and text.endswith(")"):
        inner = condition_words(proc, text[1:-1])
        return f"({inner})"
    m = _COMPARE.match(text)
    if m:
        step, field, op, raw = m.groups()
        title = _title(proc, step, field)
        value = _(raw.strip("\"'")) if field == "decision" else _value(raw)
        if raw in ("true", "false") and op in ("==", "!="):
            return _("{field}: yes", field=title) if (raw == "true") == (op == "==") else _("{field}: no", field=title)
        if op == "==":
            return _("{field} is {value}", field=title, value=value)
        if op == "!=":
            return _("{field} is not {value}", field=title, value=value)
        return f"{title} {_SIGNS[op]} {value}"
    m = _MEMBER.match(text)
    if m:
        step, field, op, items = m.groups()
        values = "、".join(_value(v.strip()) for v in items.split(",") if v.strip())
        title = _title(proc, step, field)
        return (_("{field} is one of {values}", field=title, values=values) if op == "in"
                else _("{field} is none of {values}", field=title, values=values))
    m = _TRUTH.match(text)
    if m:
        negated, step, field = m.groups()
        title = _title(proc, step, field)
        return _("{field}: no", field=title) if negated else _("{field}: yes", field=title)
    return None


def condition_words(proc: Procedure, source: str) -> str:
    """``source`` in words where its shape is a common one; else ``source`` itself."""
    for word, key in (("or", "{left} or {right}"), ("and", "{left} and {right}")):
        parts = _split(source.strip(), word)
        if parts:
            said = [_one(proc, p) or condition_words(proc, p) for p in parts]
            out = said[0]
            for part in said[1:]:
                out = _(key, left=out, right=part)
            return out
    return _one(proc, source) or source.strip()


_DUE = re.compile(rf"^(?:(date|datetime)\(\s*{_FIELD}\s*\)\s*\+\s*(days|hours)\(\s*(\d+)\s*\)|{_FIELD})$")


def due_words(proc: Procedure, source: str) -> str:
    """A due date read from the data in words (接收日期 后 5 天) where it is a date field or a
    date field plus days or hours; else ``source`` itself."""
    m = _DUE.match(source.strip())
    if not m:
        return source.strip()
    if m.group(6):
        return _("by {field}", field=_title(proc, m.group(6), m.group(7)))
    title = _title(proc, m.group(2), m.group(3))
    if m.group(4) == "days":
        return _("{n} days after {field}", n=m.group(5), field=title)
    return _("{n} hours after {field}", n=m.group(5), field=title)
