"""Migrations that convert data, run on a database with rows written by the previous head."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import MetaData, Table, inspect, select

from engine.language.procedure import compile_stored
from engine.store import ProcedureVersion, make_engine, session_factory, upgrade
from engine.store.db import downgrade
from tests.helpers.store import FORMS, NOTE_FORM, procedure_text

T0 = datetime(2026, 5, 11, 1, 30, tzinfo=UTC)


def _text_hash(marker: str) -> str:
    return (marker * 64)[:64]  # what 0009 stored: any 64 characters other than the definition hash


def _version(s, pid: str, source: str, forms: dict, stored_hash: str, status: str, major: int,
             minor: int) -> int:
    row = ProcedureVersion(procedure_id=pid, content_hash=stored_hash, source=source, forms=forms,
                           title=pid, registered_at=T0, status=status, major=major, minor=minor)
    s.add(row)
    s.flush()
    return row.id


def _started(s, instance_id: str, pid: str, version_id: int, recorded: str) -> None:
    """An instance as the code of that revision wrote it: only the columns its schema has
    (today's ``create_instance`` writes columns later migrations added)."""
    state = {"format": 1, "id": instance_id, "procedure": pid, "status": "running", "outcome": None,
             "started_at": T0.isoformat(), "started_by": "alice", "ended_at": None, "origin": None,
             "data": {}, "tasks": {}, "rev": 0}
    meta = MetaData()
    instances = Table("instances", meta, autoload_with=s.connection())
    events = Table("events", meta, autoload_with=s.connection())
    row = {"id": instance_id, "procedure_id": pid, "version_id": version_id, "status": "running",
           "started_at": T0, "started_by": "alice", "state": state, "rev": 0, "updated_at": T0,
           "event_seq": 1, "event_hash": "0" * 64}
    s.execute(instances.insert().values({k: v for k, v in row.items() if k in instances.c}))
    s.execute(events.insert().values(instance_id=instance_id, seq=1, type="instance:started", actor="alice",
                                     at=T0, data={"procedure": pid, "version": recorded},
                                     prev_hash="0" * 64, hash="0" * 64))


def test_0010_keys_every_version_by_its_definition_hash(unmigrated_db_url):
    assert upgrade(unmigrated_db_url, "0009") == "0009"
    source = procedure_text("complaint")
    definition = compile_stored(source, "complaint.yaml", FORMS).content_hash
    renamed = {"note": NOTE_FORM.replace("结果", "结论")}
    broken = "id: legacy\nsteps: []\n"  # no longer compiles; its instance recorded its hash
    eng = make_engine(unmigrated_db_url)
    try:
        with session_factory(eng)() as s:
            published = _version(s, "complaint", source, FORMS, _text_hash("a"), "published", 1, 0)
            # 0009 salted a draft's hash (here: one restoring the published text), so that it
            # could repeat a text under the unique constraint.
            draft = _version(s, "complaint", source, FORMS, _text_hash("b"), "draft", 1, 1)
            other = _version(s, "complaint", source, renamed, _text_hash("c"), "in_review", 1, 2)
            legacy = _version(s, "legacy", broken, {}, _text_hash("d"), "published", 1, 0)
            orphan = _version(s, "orphan", "id: orphan\n", {}, _text_hash("e"), "published", 1, 0)
            _started(s, "I1", "complaint", published, definition)
            _started(s, "I2", "legacy", legacy, _text_hash("f"))
            s.commit()
        assert upgrade(eng) is not None
        with session_factory(eng)() as s:
            hashes = dict(s.execute(select(ProcedureVersion.id, ProcedureVersion.content_hash)).all())
        assert hashes[published] == hashes[draft] == definition
        assert hashes[other] == compile_stored(source, "complaint.yaml", renamed).content_hash != definition
        assert hashes[legacy] == _text_hash("f")  # what its instance recorded
        assert hashes[orphan] == _text_hash("e")  # nothing better is known
        assert not [u for u in inspect(eng).get_unique_constraints("procedure_versions")]
        # And back: 0009's unique text hashes, drafts salted again.
        assert downgrade(eng, "0009") == "0009"
        with session_factory(eng)() as s:
            back = dict(s.execute(select(ProcedureVersion.id, ProcedureVersion.content_hash)).all())
        assert len(set(back.values())) == 5 and back[published] != definition
        assert [u["name"] for u in inspect(eng).get_unique_constraints("procedure_versions")] == [
            "uq_procedure_versions_procedure_id_content_hash"]
        upgrade(eng)
    finally:
        eng.dispose()



def test_0020_keeps_the_notes_saved_before_it_which_read_as_stored(unmigrated_db_url):
    """0020 adds the note as a stored message beside the note; rows saved before have none
    (the pages show their note as stored), and the way back drops only the message."""
    assert upgrade(unmigrated_db_url, "0019_start_firings_by_subject") == "0019_start_firings_by_subject"
    eng = make_engine(unmigrated_db_url)
    try:
        with session_factory(eng)() as s:
            table = Table("procedure_versions", MetaData(), autoload_with=s.connection())
            s.execute(table.insert().values(procedure_id="complaint", content_hash=_text_hash("a"), source="id: x\n",
                                            forms={}, title="x", registered_at=T0, status="draft", major=1,
                                            minor=1, note="step + double_check"))
            s.commit()
        assert upgrade(eng) is not None
        with session_factory(eng)() as s:
            (row,) = s.scalars(select(ProcedureVersion)).all()
            assert (row.note, row.note_message) == ("step + double_check", None)
        assert downgrade(eng, "0019_start_firings_by_subject") == "0019_start_firings_by_subject"
        assert "note_message" not in {c["name"] for c in inspect(eng).get_columns("procedure_versions")}
        upgrade(eng)
    finally:
        eng.dispose()
