"""The smallest valid procedure, for store tests that need a version row to pin instances to.

A version's key is the definition hash of its compiled texts, so even a test of the store
registers a procedure the language accepts.
"""

from __future__ import annotations

NOTE_FORM = """id: note
title: 记录
schema:
  type: object
  properties:
    result: {type: string, title: 结果}
"""


def procedure_text(procedure_id: str = "complaint", title: str = "客户投诉处理", comment: str = "") -> str:
    """A one-step procedure ``procedure_id`` using the form ``note``; ``comment`` is added as a
    YAML comment (a new text with the same steps)."""
    return (f"id: {procedure_id}\ntitle: {title}\nroles:\n  inspector: 检验员\n"
            "start: {roles: [inspector], step: review}\n"
            "steps:\n  review:\n    title: 复核\n    role: inspector\n    form: note\n    next: done\n"
            "  done: {type: end, title: 结束, outcome: 已处理}\n"
            + (f"# {comment}\n" if comment else ""))


FORMS = {"note": NOTE_FORM}
