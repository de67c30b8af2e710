"""The change-control procedure changed through itself. The service publishes a draft when a
change request ends at the step ``published`` and keeps the draft's author from the steps
``review`` and ``approve``, by those ids. A new version of ``procedure-change-control`` that
renamed them was saved and could be published: every approved change then went back to draft
(its end step no longer read as published), and the author could approve their own change."""

from __future__ import annotations

import pytest

from tests.web.test_editor_spawn_targets import _newest, _source
from tests.web.test_web_editor import app, login  # noqa: F401 - the fixture

CC = "procedure-change-control"


@pytest.mark.parametrize(("old", "new"), [("published", "released"), ("approve", "sign_off"),
                                          ("review", "check")])
def test_a_draft_of_change_control_keeps_the_steps_the_service_reads(app, old, new):  # noqa: F811
    a = login(app, "author")
    source, _ = _source(app, CC)
    renamed = source.replace(f"  {old}:\n", f"  {new}:\n").replace(f"next: {old}\n", f"next: {new}\n") \
        .replace(f"step: {old}\n", f"step: {new}\n").replace(f", {old}]", f", {new}]").replace(f"    {old}: ", f"    {new}: ")
    line = renamed.splitlines().index("steps:") + 1
    r = a.c.post(f"/editor/{CC}/validate", json={"file": "procedure", "text": renamed},
                 headers={"X-CSRF-Token": a.token})
    assert not r.json["ok"]
    found = [p for p in r.json["problems"] if (p["line"], p["col"]) == (line, 1)]
    assert any(f"the service reads the step '{old}' of procedure-change-control" in p["message"]
               for p in found), r.json
    a.get(f"/editor/{CC}/text")
    assert a.post(f"/editor/{CC}/text", {"file": "procedure", "text": renamed}).status_code == 422
    assert _newest(app, CC) == "1.0"
