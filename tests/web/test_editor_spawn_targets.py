"""A procedure changed in the browser editor against the procedures installed on the server
that it opens, or that open it (spawn steps). ``wf validate`` checks spawns across the library;
the editor checked the draft alone, so a draft whose spawn named a mistyped procedure, closed a
cycle (A spawns B spawns A), or whose start form now required a field its spawners do not hand
over was saved, sent and published, and every instance then failed at that step (a failed
firing retried forever) instead of the author hearing it at the line."""

from __future__ import annotations

import re

from engine import store
from engine.store import versions
from tests.web.test_web_editor import app, login  # noqa: F401 - the fixture

PARENT, CHILD = "after-sales-inspection", "repair-process-inspection"


def _source(server, pid: str) -> tuple[str, dict[str, str]]:
    with server.extensions["services"].database.reading() as s:
        row = versions.working_copy(s, pid)
        return row.source, dict(row.forms or {})


def _newest(server, pid: str) -> str:
    with server.extensions["services"].database.reading() as s:
        return versions.label(versions.working_copy(s, pid))


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_mistyped_spawn_target_is_refused_at_its_line(app):  # noqa: F811
    a = login(app, "author")
    source, _ = _source(app, PARENT)
    broken = source.replace(f"procedure: {CHILD}", "procedure: repair-proces-inspection")
    line = _line(broken, "procedure: repair-proces-inspection")
    r = a.c.post(f"/editor/{PARENT}/validate", json={"file": "procedure", "text": broken},
                 headers={"X-CSRF-Token": a.token})
    assert not r.json["ok"]
    assert {"file": f"procedures/{PARENT}.yaml", "line": line, "col": 16,
            "message": "unknown procedure 'repair-proces-inspection' to spawn; did you mean "
                       "'repair-process-inspection'?"} in r.json["problems"], r.json
    a.get(f"/editor/{PARENT}/text")
    r = a.post(f"/editor/{PARENT}/text", {"file": "procedure", "text": broken})
    assert r.status_code == 422 and "repair-proces-inspection" in r.text
    assert _newest(app, PARENT) == "1.0"  # nothing saved


def test_a_spawn_that_closes_a_cycle_with_an_installed_procedure_is_refused(app):  # noqa: F811
    a = login(app, "author")
    source, _ = _source(app, CHILD)
    first = re.search(r"^steps:\n  (\w+):", source, re.M)
    assert first
    spawn_back = (f"steps:\n  back_to_after_sales:\n    type: spawn\n    title: 再发起售后检验\n"
                  f"    procedure: {PARENT}\n    next: {first.group(1)}\n")
    cyclic = source.replace("steps:\n", spawn_back, 1).replace(f"  step: {first.group(1)}\n",
                                                                "  step: back_to_after_sales\n", 1)
    a.get(f"/editor/{CHILD}/text")
    r = a.post(f"/editor/{CHILD}/text", {"file": "procedure", "text": cyclic})
    assert r.status_code == 422
    assert (f"spawning '{PARENT}' here closes a cycle {CHILD} → {PARENT} → {CHILD}: each instance "
            "would open another without end") in r.text.replace("&#39;", "'").replace("&gt;", ">")
    assert _newest(app, CHILD) == "1.0"


def test_a_start_field_made_required_that_a_spawner_does_not_send_is_refused(app):  # noqa: F811
    a = login(app, "author")
    source, forms = _source(app, CHILD)
    with app.extensions["services"].database.reading() as s:
        child = app.extensions["workflow"].runtime(s, store.latest_version_id(s, CHILD)).procedure
    fid = child.start_form
    text = forms[fid]
    required = re.search(r"^  required: \[(.*)\]$", text, re.M)
    assert required, text
    # a new required field the parent (after-sales-inspection) does not hand over
    changed = text.replace(required.group(0), f"  required: [{required.group(1)}, warranty_no]")
    changed = changed.replace("  properties:\n", "  properties:\n    warranty_no: {type: string, title: 保修卡号}\n", 1)
    assert changed.count("warranty_no") == 2, changed
    r = a.c.post(f"/editor/{CHILD}/validate", json={"file": fid, "text": changed}, headers={"X-CSRF-Token": a.token})
    assert not r.json["ok"]
    parent_source, _ = _source(app, PARENT)
    line = _line(parent_source, f"procedure: {CHILD}") + 2  # the first entry of its 'with:'
    assert parent_source.splitlines()[line - 2].startswith("    with:")
    said = [o for o in r.json["other"] if o.startswith(f"procedures/{PARENT}.yaml:{line}:")]
    assert said, r.json
    assert (f"procedure '{PARENT}' opens this one (step 'open_repair_inspection') and would be refused: "
            f"the start form '{fid}' of procedure '{CHILD}' requires 'warranty_no'") in said[0]
    a.get(f"/editor/{CHILD}/forms/{fid}")
    r = a.post(f"/editor/{CHILD}/text", {"file": fid, "text": changed})
    assert r.status_code == 422 and _newest(app, CHILD) == "1.0"
    # optional, it passes
    optional = changed.replace(f"[{required.group(1)}, warranty_no]", f"[{required.group(1)}]")
    r = a.post(f"/editor/{CHILD}/text", {"file": fid, "text": optional})
    assert r.status_code == 302 and _newest(app, CHILD) == "1.1"


WATCHED, WATCHER = "annual-maintenance-contract", "maintenance-contract-expiry"


def test_a_watched_date_field_renamed_by_a_draft_is_refused_naming_the_trigger(app):  # noqa: F811
    """maintenance-contract-expiry starts one month before ``contracts.expires_on`` of each
    annual maintenance contract; a draft of the contract procedure that renames the field
    would leave every new contract without its expiry notice."""
    a = login(app, "author")
    _, forms = _source(app, WATCHED)
    text = forms["contract-draft"]
    renamed = re.sub(r"\bexpires_on\b", "valid_until", text)
    assert renamed.count("valid_until") == 3, renamed  # required, property, English title
    r = a.c.post(f"/editor/{WATCHED}/validate", json={"file": "contract-draft", "text": renamed},
                 headers={"X-CSRF-Token": a.token})
    watcher, _ = _source(app, WATCHER)
    line = _line(watcher, "field: contracts.expires_on")
    said = [o for o in r.json["other"] if o.startswith(f"procedures/{WATCHER}.yaml:{line}:")]
    assert said and not r.json["ok"], r.json
    assert (f"procedure '{WATCHER}' starts from this one's records (starts: trigger) and would no longer "
            f"find what it reads: 'contracts.expires_on' is not a field of procedure '{WATCHED}'") in said[0]
    a.get(f"/editor/{WATCHED}/forms/contract-draft")
    r = a.post(f"/editor/{WATCHED}/text", {"file": "contract-draft", "text": renamed})
    assert r.status_code == 422 and _newest(app, WATCHED) == "1.0"


def test_a_trigger_watching_a_mistyped_procedure_is_refused(app):  # noqa: F811
    a = login(app, "author")
    source, _ = _source(app, WATCHER)
    broken = source.replace(f"procedure: {WATCHED}", "procedure: annual-maintenance-contrat")
    a.get(f"/editor/{WATCHER}/text")
    r = a.post(f"/editor/{WATCHER}/text", {"file": "procedure", "text": broken})
    assert r.status_code == 422
    assert "unknown procedure 'annual-maintenance-contrat' to watch; did you mean 'annual-maintenance-contract'?" \
        in r.text.replace("&#39;", "'")
    assert _newest(app, WATCHER) == "1.0"
