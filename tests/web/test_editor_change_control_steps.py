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


def test_a_change_control_file_edited_by_hand_is_held_to_the_same(tmp_path):
    """The editor's check did not cover the file itself: a procedure-change-control.yaml edited
    in the procedures folder with ``published`` renamed passed ``wf validate`` and was loaded at
    the server's start. Both now refuse it at its line."""
    import shutil

    from click.testing import CliRunner

    from engine.app.service import Workflow
    from engine.cli import main
    from engine.config import load_config
    from engine.errors import DefinitionInvalid
    from tests.helpers.service import ROOT

    folder = tmp_path / "procedures"
    folder.mkdir()
    text = (ROOT / "procedures" / f"{CC}.yaml").read_text(encoding="utf-8")
    renamed = (text.replace("    next: published\n", "    next: released\n").replace("  published:\n", "  released:\n")
               .replace("    published: Released", "    released: Released"))
    assert renamed != text
    (folder / f"{CC}.yaml").write_text(renamed, encoding="utf-8")
    shutil.copy(ROOT / "procedures" / "after-sales-inspection.yaml", folder)
    out = CliRunner().invoke(main, ["validate", str(folder)])
    assert out.exit_code == 1 and f"{CC}.yaml:" in out.output
    assert "the service reads the step 'published' of procedure-change-control" in out.output, out.output
    wf = Workflow(load_config(ROOT / "config.yaml", overrides={"paths.procedures": str(folder)}))
    with pytest.raises(DefinitionInvalid) as refused:
        wf.read_library()
    assert any("'published'" in p.message and p.file.endswith(f"{CC}.yaml") for p in refused.value.problems)
