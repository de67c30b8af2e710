"""The audit chain: hashing, verification, tamper and gap detection, ``wf audit verify``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.cli import main
from engine.store import (
    create_instance,
    events_of,
    register_procedure_version,
    upgrade,
    verify,
    verify_chains,
)
from engine.store.audit import GENESIS, canonical_json, event_hash, format_time, hash_of
from tests.helpers.store import FORMS, procedure_text
from tests.helpers.tamper import insider

T0 = datetime(2026, 5, 11, 1, 30, 0, 123456, tzinfo=UTC)

# Values that like to change on a round trip through a JSON column.
AWKWARD = {
    "float": 0.1 + 0.2, "tiny": 1e-7, "big": 1.5e300, "whole": 2.0, "neg": -0.0,
    "int": 2**62, "text": "铸件裂纹 \"quoted\" \\ \n tab\t é", "empty": "", "none": None,
    "list": [3, 1, {"b": 1, "a": [True, False]}], "z": {"y": {"x": 1}}, "a": 1,
}


def _state(instance_id: str) -> dict:
    return {"format": 1, "id": instance_id, "procedure": "complaint", "status": "running",
            "outcome": None, "started_at": T0.isoformat(), "started_by": "alice",
            "ended_at": None, "origin": None, "data": {}, "tasks": {}, "rev": 0, "path": ["review"]}


def _events(n: int, start: datetime = T0) -> list[dict]:
    return [{"type": "task:completed" if i else "instance:started",
             "at": (start + timedelta(seconds=i)).isoformat(), "actor": "alice",
             "step": "review" if i else None, "task": f"t{i}" if i else None,
             "data": {"i": i, "payload": AWKWARD}} for i in range(n)]


@pytest.fixture
def chains(session) -> list[str]:
    """Three instances with 5, 3 and 1 events, committed."""
    version, _ = register_procedure_version(session, "complaint", procedure_text("complaint"), FORMS, "t")
    ids = []
    for name, n in (("A", 5), ("B", 3), ("C", 1)):
        create_instance(session, _state(name), version.id, _events(n))
        ids.append(name)
    session.commit()
    return ids


def test_hash_is_sha256_of_canonical_json():
    import hashlib

    payload = {"instance_id": "I", "seq": 1, "type": "x", "step": None, "task": None,
               "actor": "a", "at": "2026-05-11T01:30:00.123456Z", "data": {"b": 1, "a": "é"},
               "prev_hash": GENESIS}
    expected = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        .encode()).hexdigest()
    assert event_hash(instance_id="I", seq=1, type="x", step=None, task=None, actor="a",
                      at=T0, data={"a": "é", "b": 1}, prev_hash=GENESIS) == expected
    assert canonical_json({"b": 1, "a": [1.0]}) == '{"a":[1.0],"b":1}'


def test_time_format_is_fixed():
    assert format_time(T0) == "2026-05-11T01:30:00.123456Z"
    assert format_time(datetime(2026, 5, 11, 9, 30)) == "2026-05-11T09:30:00.000000Z"
    cst = timezone(timedelta(hours=8))
    assert format_time(datetime(2026, 5, 11, 9, 30, tzinfo=cst)) == "2026-05-11T01:30:00.000000Z"
    assert format_time("2026-05-11T09:30:00+08:00") == "2026-05-11T01:30:00.000000Z"


def test_round_trip_keeps_hashes(chains, session):
    session.expire_all()
    rows = events_of(session, "A")
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    for row in rows:
        assert hash_of(row) == row.hash
        assert row.at.tzinfo is not None
    assert rows[1].data["payload"] == AWKWARD
    assert rows[2].at == T0 + timedelta(seconds=2)
    assert rows[0].to_dict()["at"] == "2026-05-11T01:30:00.123456Z"


def test_clean_database_verifies(chains, session):
    report = verify_chains(session)
    assert report.ok and (report.events, report.instances) == (9, 3)
    assert verify(session) == []


@pytest.mark.parametrize("batch_size", [1, 2, 4, 5000])
def test_verify_streams_in_batches(chains, session, batch_size):
    report = verify_chains(session, batch_size=batch_size)
    assert report.ok and report.events == 9 and report.instances == 3


def test_tampered_data_is_caught(chains, session, engine):
    with insider(engine) as conn:
        conn.execute(text("UPDATE events SET data = :d WHERE instance_id = 'B' AND seq = 2"),
                     {"d": json.dumps({"i": 1, "payload": {"verdict": "合格"}})})
    breaks = verify(session)
    assert len(breaks) == 1
    brk = breaks[0]
    assert (brk.instance_id, brk.seq, brk.problem) == ("B", 2, "hash mismatch")
    assert brk.event_id == events_of(session, "B")[1].id
    assert "B: event seq 2" in str(brk)


def test_tampered_time_and_rehashed_row_are_caught(chains, session, engine):
    # Moving an event in time breaks its own hash ...
    with insider(engine) as conn:
        conn.execute(text("UPDATE events SET actor = 'mallory' WHERE instance_id='C'"))
    # ... and recomputing that hash breaks the next link instead.
    row = events_of(session, "A")[1]
    forged = event_hash(instance_id="A", seq=2, type=row.type, step=row.step, task=row.task_id,
                        actor="mallory", at=row.at, data=row.data, prev_hash=row.prev_hash)
    session.rollback()
    with insider(engine) as conn:
        conn.execute(text("UPDATE events SET actor='mallory', hash=:h "
                          "WHERE instance_id='A' AND seq=2"), {"h": forged})
    breaks = {b.instance_id: b for b in verify(session)}
    assert set(breaks) == {"A", "C"}
    assert (breaks["A"].seq, breaks["A"].problem) == (3, "prev_hash mismatch")
    assert (breaks["C"].seq, breaks["C"].problem) == (1, "hash mismatch")


def test_deleted_event_is_caught(chains, session, engine):
    with insider(engine) as conn:
        conn.execute(text("DELETE FROM events WHERE instance_id='A' AND seq=3"))
        conn.execute(text("DELETE FROM events WHERE instance_id='B' AND seq=1"))
    breaks = {b.instance_id: b for b in verify(session)}
    assert set(breaks) == {"A", "B"}
    assert (breaks["A"].seq, breaks["A"].problem) == (4, "missing seq")
    assert "seq 3 missing" in breaks["A"].detail
    assert (breaks["B"].seq, breaks["B"].problem) == (2, "missing seq")


def test_cli_audit_verify(unmigrated_db_url, tmp_path, monkeypatch):
    db_url = unmigrated_db_url
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1 and "wf db upgrade" in result.output

    upgrade(db_url)
    from engine.store import make_engine, session_factory

    eng = make_engine(db_url)
    try:
        with session_factory(eng)() as s:
            version, _ = register_procedure_version(s, "p", procedure_text("p"), FORMS, "t")
            for name in ("A", "B"):
                create_instance(s, _state(name), version.id, _events(3))
            s.commit()
        result = runner.invoke(main, ["audit", "verify", "--batch-size", "2"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "OK: 6 events in 2 instances verified"

        with insider(eng) as conn:
            conn.execute(text("UPDATE events SET data = '{\"i\": 99}' "
                              "WHERE instance_id='B' AND seq=2"))
        result = runner.invoke(main, ["audit", "verify"])
        assert result.exit_code == 1
        assert "BROKEN: B: event seq 2" in result.output and "hash mismatch" in result.output
    finally:
        eng.dispose()


def test_events_deleted_from_the_end_are_caught(chains, session, engine):
    """The links alone cannot show a shortened chain; the head kept on the instance row can."""
    with insider(engine) as conn:
        conn.execute(text("DELETE FROM events WHERE instance_id='A' AND seq=5"))
        conn.execute(text("DELETE FROM events WHERE instance_id='C'"))
    breaks = {b.instance_id: b for b in verify(session)}
    assert set(breaks) == {"A", "C"}
    assert breaks["A"].problem == "chain end mismatch" and breaks["A"].seq == 4
    assert "records 5 events" in breaks["A"].detail
    assert breaks["C"].seq == 0
