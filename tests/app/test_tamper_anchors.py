"""An insider who owns the database rewrites the trail so that the plain chain still
verifies (issue 14, item 3 of the report and item 5 of the brief): a forged event with a
recomputed SHA-256 and every later hash recomputed, a whole chain rewritten, an instance
deleted with all its events. With the heads anchored outside the database
(``wf audit anchor``), ``wf audit verify`` names each; an edited anchor file is named too."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from engine.cli import main
from engine.store.audit import GENESIS, event_hash
from engine.store.tables import Event, FieldIndex, Instance, Task
from tests.helpers.service import add_users, answers, play, web_app
from tests.helpers.tamper import insider

PID = "after-sales-inspection"


@pytest.fixture
def app(db_url, tmp_path, monkeypatch):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    wf = app.extensions["workflow"]
    app.config["IDS"] = [play(wf, sessions, answers(f"{PID}--fail"))["id"],
                         play(wf, sessions, answers(f"{PID}--fail"))["id"]]
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_AUDIT_ANCHORS", str(tmp_path / "anchors.jsonl"))
    app.config["ANCHORS"] = tmp_path / "anchors.jsonl"
    yield app
    app.extensions["services"].database.engine.dispose()


def wf_(*args) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


def rewrite_chain(engine, iid, change) -> None:
    """Change events of ``iid`` with ``change(row) -> dict of new values`` and recompute every
    hash of the chain and the head on the instance row, as an insider with the code would."""
    ev = Event.__table__
    with insider(engine) as conn:
        rows = conn.execute(select(ev).where(ev.c.instance_id == iid).order_by(ev.c.seq)).all()
        prev = GENESIS
        for row in rows:
            values = {**row._asdict(), **change(row)}
            h = event_hash(instance_id=iid, seq=values["seq"], type=values["type"], step=values["step"],
                           task=values["task_id"], actor=values["actor"], at=values["at"],
                           data=values["data"], prev_hash=prev)
            conn.execute(update(ev).where(ev.c.id == row.id).values(**change(row), prev_hash=prev, hash=h))
            prev = h
        conn.execute(update(Instance.__table__).where(Instance.__table__.c.id == iid).values(event_hash=prev))


def test_without_anchors_a_recomputed_chain_passes_and_with_them_it_is_named(app):
    engine = app.extensions["services"].database.engine
    forged_iid, rewritten_iid = app.config["IDS"]
    assert wf_("audit", "anchor")[1].startswith("Anchored 3 chain heads")
    assert wf_("audit", "anchor")[1].startswith("Nothing new")
    code, out = wf_("audit", "verify")
    assert code == 0 and "Anchors: 3 chain heads checked" in out, out

    # One forged event (the supervisor's review becomes someone else's), hashes recomputed.
    rewrite_chain(engine, forged_iid, lambda r: {"actor": "mallory"} if r.type == "task:approved" else {})
    # A whole chain rewritten: every actor replaced.
    rewrite_chain(engine, rewritten_iid, lambda r: {"actor": "mallory"})
    app.config["ANCHORS"].rename(app.config["ANCHORS"].with_suffix(".away"))
    code, out = wf_("audit", "verify")
    assert "hash mismatch" not in out and "prev_hash" not in out  # the plain chain is fooled
    app.config["ANCHORS"].with_suffix(".away").rename(app.config["ANCHORS"])
    code, out = wf_("audit", "verify")
    assert code == 1, out
    assert f"BROKEN: {forged_iid}: event seq" in out and "anchored head differs" in out
    assert f"BROKEN: {rewritten_iid}: event seq" in out


def test_a_deleted_instance_with_all_its_events_is_named(app):
    engine = app.extensions["services"].database.engine
    gone, kept = app.config["IDS"]
    wf_("audit", "anchor")
    with insider(engine) as conn:
        conn.execute(delete(Event.__table__).where(Event.__table__.c.instance_id == gone))
        conn.execute(delete(Task.__table__).where(Task.__table__.c.instance_id == gone))
        conn.execute(delete(FieldIndex.__table__).where(FieldIndex.__table__.c.instance_id == gone))
        conn.execute(delete(Instance.__table__).where(Instance.__table__.c.id == gone))
    code, out = wf_("audit", "verify")
    assert code == 1 and f"BROKEN: {gone}" in out and "anchored event missing" in out, out
    assert f"BROKEN: {kept}" not in out


def test_new_events_are_anchored_next_time_and_an_edited_anchor_file_is_named(app):
    path = app.config["ANCHORS"]
    wf_("audit", "anchor")
    wf = app.extensions["workflow"]
    sessions = app.extensions["services"].database.sessions
    play(wf, sessions, answers(f"{PID}--fail"), upto=1)
    assert wf_("audit", "anchor")[1].startswith("Anchored 1 chain heads")
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text(lines[1] + "\n", encoding="utf-8")  # the first line removed
    code, out = wf_("audit", "verify")
    assert code == 1 and "anchors.jsonl:1: 'prev' is not the hash of the line before it" in out, out
    code, out = wf_("audit", "anchor")
    assert code != 0 and "repaired" in out


def test_an_anchor_file_of_another_database_is_named_once_and_not_added_to(app, tmp_path, monkeypatch):
    """The anchor file says which database it anchors (``database_identity``): pointed at
    another database (the wrong WF_DATABASE_URL, a new installation), verify names that in
    one line instead of calling every instance's anchored event missing, and anchoring from
    there refuses to mix the two databases' heads in one file."""
    from engine import store

    assert wf_("audit", "anchor")[0] == 0
    before = app.config["ANCHORS"].read_text(encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'other' / 'workflow.db'}"  # a new installation
    other = store.make_engine(url)
    store.upgrade(other)
    other.dispose()
    monkeypatch.setenv("WF_DATABASE_URL", url)
    code, out = wf_("audit", "verify")
    assert code == 1 and "anchors another database" in out and "anchored event missing" not in out, out
    assert out.count("anchors another database") == 1
    code, out = wf_("audit", "anchor")
    assert code == 1 and "anchors another database" in out and "repaired" not in out, out
    assert app.config["ANCHORS"].read_text(encoding="utf-8") == before


def test_lines_from_before_the_database_id_still_count(app):
    """An anchor file written before migration 0023 names no database: its heads are
    checked as before, and the next line adds the id."""
    import json

    assert wf_("audit", "anchor")[0] == 0
    path = app.config["ANCHORS"]
    [line] = path.read_text(encoding="utf-8").splitlines()
    obj = json.loads(line)
    assert len(obj.pop("database")) == 32
    from engine.store.audit import canonical_json

    path.write_text(canonical_json(obj) + "\n", encoding="utf-8")
    code, out = wf_("audit", "verify")
    assert code == 0 and "Anchors: 3 chain heads checked" in out, out
    play(app.extensions["workflow"], app.extensions["services"].database.sessions, answers(f"{PID}--fail"), upto=1)
    assert wf_("audit", "anchor")[0] == 0
    assert "database" in json.loads(path.read_text(encoding="utf-8").splitlines()[1])
    assert wf_("audit", "verify")[0] == 0


def test_changing_the_database_id_hides_no_rewritten_chain(app):
    """The insider who rewrites a chain (every hash recomputed) and then changes this
    database's id, so that the anchor file would read as another database's: the heads are
    still compared, the rewrite named, and the id line says it may have been changed."""
    from engine.store.tables import DatabaseIdentity

    engine = app.extensions["services"].database.engine
    forged_iid, _kept = app.config["IDS"]
    assert wf_("audit", "anchor")[0] == 0
    rewrite_chain(engine, forged_iid, lambda r: {"actor": "mallory"})
    with engine.begin() as conn:
        conn.execute(update(DatabaseIdentity.__table__).values(uuid="f" * 32))
    code, out = wf_("audit", "verify")
    assert code == 1 and f"BROKEN: {forged_iid}: event seq" in out and "anchored head differs" in out, out
    assert "anchors another database" in out and "id (database_identity) was changed" in out
