"""Field index, audit search filters, ledgers, KPIs, access log and the JSON Lines export
with its offline verification, on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from engine.cli import main
from engine.store import Event
from engine.store.audit_file import export_lines, verify_lines
from engine.store.audit_search import (
    EventQuery,
    access_log,
    check_instance,
    export_events,
    log_access,
    search_events,
)
from engine.store.field_index import rebuild
from engine.store.kpi_query import drill, kpis
from engine.store.ledger_query import LedgerQuery, ledger_page, ledger_rows
from engine.store.tables import FieldIndex
from tests.helpers.service import PASSWORD, answers, play, setup
from tests.helpers.tamper import insider

PID = "after-sales-inspection"


@pytest.fixture
def played(sessions):
    """Two after-sales instances: one failed (SN20260101), one stopped after receipt (SN-B)."""
    wf = setup(sessions)
    first = play(wf, sessions, answers(f"{PID}--fail"))
    script = answers(f"{PID}--pass-repair")
    script["start"]["data"] = {**script["start"]["data"], "serial_no": "SN-B"}
    second = play(wf, sessions, script, upto=1)
    return wf, first["id"], second["id"]


def _index(session, instance_id):
    return dict(session.execute(select(FieldIndex.key, FieldIndex.value)
                                .where(FieldIndex.instance_id == instance_id)).all())


def test_field_index_follows_steps_and_corrections(played, sessions):
    wf, first, second = played
    with sessions() as s:
        idx = _index(s, first)
        assert idx["start.serial_no"] == "SN20260101"
        assert idx["inspect.verdict"] == idx["inspect.verdict@first"] == "不合格"
        assert idx["report.report_no"] == "JY-2026-0101"
        assert "start.contact_person" not in idx  # not declared searchable
        assert _index(s, second)["start.serial_no"] == "SN-B"
        wf.correct(s, first, "supervisor1", "start", "serial_no", "SN20260199", "笔误", password=PASSWORD)
        s.commit()
    with sessions() as s:
        assert _index(s, first)["start.serial_no"] == "SN20260199"
        before = sorted(s.execute(select(FieldIndex.instance_id, FieldIndex.key, FieldIndex.value)).all())
        rebuild(s, [wf.procedure(s, PID)[0]])
        after = sorted(s.execute(select(FieldIndex.instance_id, FieldIndex.key, FieldIndex.value)).all())
        assert after == before


def test_each_audit_search_filter(played, sessions):
    _wf, first, second = played
    with sessions() as s:
        def ids(**kw):
            rows, _more = search_events(s, EventQuery(**kw), limit=500)
            return rows

        everything = ids()
        assert {r.instance_id for r in everything} == {first, second}
        assert {r.instance_id for r in ids(value="SN-B")} == {second}
        assert {r.instance_id for r in ids(field="start.serial_no", value="SN20260101")} == {first}
        assert ids(field="report.report_no", value="SN-B") == []
        assert {r.step for r in ids(step="review")} == {"review"}
        assert {r.actor for r in ids(actor="supervisor1")} == {"supervisor1"}
        assert {r.type for r in ids(type="task:approved")} == {"task:approved"}
        assert {r.procedure_id for r in ids(procedure=PID)} == {PID}
        assert ids(procedure="repair-process-inspection", type="task:approved") == []
        assert ids(procedures=()) == []
        at = min(r.at for r in everything)
        assert ids(since=at + timedelta(days=3650)) == []
        assert len(ids(until=at + timedelta(days=3650))) == len(everything)
        assert ids(until=at) == []
        assert {r.instance_id for r in ids(instance=second)} == {second}
        page1, more = search_events(s, EventQuery(), limit=3)
        page2, _ = search_events(s, EventQuery(), limit=3, offset=3)
        assert more and len(page1) == 3 and not {r.id for r in page1} & {r.id for r in page2}
        assert [r.at for r in page1] == sorted((r.at for r in page1), reverse=True)


def test_ledger_filters_sorts_and_streams(played, sessions):
    wf, first, second = played
    with sessions() as s:
        proc, _ = wf.procedure(s, PID)
        cols = [c.field for c in proc.records.ledger.columns]
        q = LedgerQuery(PID, cols)
        rows, more = ledger_page(s, q)
        assert not more and {r["id"] for r in rows} == {first, second}
        row = next(r for r in rows if r["id"] == first)
        assert row["cells"]["start.serial_no"] == "SN20260101"
        assert row["cells"]["instance.status"] == "completed"
        assert [r["id"] for r in ledger_page(s, LedgerQuery(PID, cols, filters={"start.serial_no": "SN2026"}))[0]] == [first]
        assert [r["id"] for r in ledger_page(s, LedgerQuery(PID, cols, status="running"))[0]] == [second]
        asc = ledger_page(s, LedgerQuery(PID, cols, sort="start.serial_no", descending=False))[0]
        assert [r["id"] for r in asc] == [second, first]  # "SN-B" < "SN2026..."
        desc = ledger_page(s, LedgerQuery(PID, cols, sort="start.serial_no"))[0]
        assert [r["id"] for r in desc] == [first, second]
        assert [r["id"] for r in ledger_rows(s, q, batch_size=1)] == [r["id"] for r in rows]
        assert ledger_page(s, LedgerQuery(PID, cols, filters={"start.serial_no": "%"}))[0] == []


def test_kpis_and_drill_down(played, sessions):
    wf, first, second = played
    now = datetime.now(UTC)
    with sessions() as s:
        since, until = now - timedelta(days=400), now + timedelta(days=1)
        assert wf.refresh_kpis(s, PID) > 0
        k = kpis(s, PID, since, until, "month", now, wf.config.timezone, first_pass=("inspect.verdict", "合格"),
                 breakdown=("inspect.verdict",), scores=())
        assert k.totals["started"] == 2 and k.totals["completed"] == 1 and k.totals["open"] == 1
        assert k.totals["median_h"] is not None
        assert sum(n for _p, (ok, n) in k.first_pass.items()) == 1
        assert sum(ok for _p, (ok, n) in k.first_pass.items()) == 0
        assert k.breakdown["inspect.verdict"] == [("不合格", 1)]
        steps = {r["step"]: r for r in k.steps}
        assert steps["receive"]["done"] == 2 and steps["inspect"]["open"] == 1
        week = kpis(s, PID, since, until, "week", now, wf.config.timezone)
        assert sum(p["started"] for p in week.periods) == 2
        cols = ["instance.id"]
        def ids(**kw):
            sub = drill(s, PID, since=since, until=until, now=now, zone=wf.config.timezone, **kw)
            return {r["id"] for r in ledger_page(s, LedgerQuery(PID, cols, subset=sub))[0]}
        assert ids(what="completed") == {first}
        assert ids(what="open") == {second}
        assert ids(what="started", key="inspect.verdict", value="不合格") == {first}
        assert ids(what="open", step="inspect") == {second}
        assert ids(what="overdue") == set()
        later = now + timedelta(days=60)  # every deadline of the open task has passed by then
        assert {r["id"] for r in ledger_page(s, LedgerQuery(PID, cols, subset=drill(
            s, PID, what="overdue", since=since, until=until, now=later, zone=wf.config.timezone)))[0]} == {second}


def test_access_log(played, sessions):
    _wf, first, _second = played
    now = datetime.now(UTC)
    with sessions() as s:
        assert log_access(s, [(first, PID, ["start.contact_phone"]), ("x", PID, [])],
                          username="officer", view="dossier", now=now) == 1
        s.commit()
        rows, more = access_log(s)
        assert not more and [(r.username, r.instance_id, r.fields, r.view) for r in rows] == [
            ("officer", first, "start.contact_phone", "dossier")]
        assert access_log(s, username="nobody")[0] == []


def _export(session, **kw):
    rows = export_events(session, EventQuery(**kw), batch_size=2)
    return list(export_lines(rows, since=kw.get("since"), until=kw.get("until"),
                             procedure=kw.get("procedure"), now=datetime.now(UTC)))


def test_export_verifies_offline_and_tampering_is_caught(played, sessions):
    _wf, first, second = played
    with sessions() as s:
        lines = _export(s)
        assert check_instance(s, first).ok
    assert verify_lines(lines).ok
    events = [json.loads(x) for x in lines[1:-1]]
    assert len(events) == len({e["id"] for e in events}) and {e["instance_id"] for e in events} == {first, second}

    tampered = list(lines)
    i = next(n for n, x in enumerate(lines) if '"SN20260101"' in x)
    tampered[i] = lines[i].replace("SN20260101", "SN20269999")
    report = verify_lines(tampered, "x.jsonl")
    assert not report.ok and report.problems[0].startswith(f"x.jsonl:{i + 1}: ") and "hash mismatch" in report.problems[0]

    dropped = lines[:3] + lines[4:]
    assert not verify_lines(dropped).ok
    assert "footer" in verify_lines(lines[:-1]).problems[-1] or not verify_lines(lines[:-1]).ok
    assert not verify_lines([*lines[:2], "{not json", *lines[2:]]).ok


def test_dossier_chain_check_names_tampering(played, sessions, engine):
    _wf, first, _second = played
    with insider(engine) as conn:
        conn.execute(update(Event.__table__).where(Event.__table__.c.instance_id == first,
                                                   Event.__table__.c.seq == 2)
                     .values(actor="mallory"))
    with sessions() as s:
        check = check_instance(s, first)
    assert not check.ok and "seq 2" in check.message


def test_cli_export_and_verify_file(played, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    runner = CliRunner()
    out = runner.invoke(main, ["audit", "export", "--from", "2000-01-01", "--to", "2999-12-31",
                               "--procedure", PID])
    assert out.exit_code == 0, out.output
    path = tmp_path / "export.jsonl"
    path.write_bytes(out.stdout_bytes)
    ok = runner.invoke(main, ["audit", "verify", "--file", str(path)])
    assert ok.exit_code == 0 and ok.output.startswith("OK: "), ok.output
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace('"actor":"inspector1"', '"actor":"inspector2"')
    path.write_text("".join(lines), encoding="utf-8")
    bad = runner.invoke(main, ["audit", "verify", "--file", str(path)])
    assert bad.exit_code == 1 and bad.output.startswith(f"BROKEN: {path}:4: "), bad.output
    re_index = runner.invoke(main, ["audit", "reindex"])
    assert re_index.exit_code == 0 and re_index.output.startswith("OK: "), re_index.output
    none = runner.invoke(main, ["audit", "export", "--from", "2026-02-01", "--to", "2026-01-01"])
    assert none.exit_code == 2 and "--to is before --from" in none.output
    missing = runner.invoke(main, ["audit", "verify", "--file", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code != 0
