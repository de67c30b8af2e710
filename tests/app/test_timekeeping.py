"""Deadlines, escalations and automatic starts with a frozen clock moved by the test: months
of procedure time in seconds, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine import store
from engine.app.worker import Worker
from engine.store import Event, Instance
from engine.store import timekeeping as tk
from tests.helpers.service import check_consistent, open_task
from tests.helpers.time import Clock, local, time_setup


def _start(wf, sessions, data: dict, user: str = "clerk1") -> dict:
    with sessions() as s:
        state = wf.start(s, "timed-steps", user, data)
        s.commit()
    return state


def _events(sessions, instance_id: str, prefix: str = "deadline:") -> list[Event]:
    with sessions() as s:
        return [e for e in store.events_of(s, instance_id) if e.type.startswith(prefix)]


def _due(state: dict) -> datetime:
    [task] = [t for t in state["tasks"].values() if t["status"] == "open"]
    return datetime.fromisoformat(task["due_at"])


@pytest.mark.parametrize(("data", "due"), [
    ({"kind": "h"}, local("2026-09-30 17:00")),
    # 1.5 h on Wednesday; the National Day holidays and the weekend are skipped; 6.5 h on Thursday.
    ({"kind": "wh"}, local("2026-10-08 16:00")),
    ({"kind": "d"}, local("2026-10-03 16:00")),
    # Thursday, Friday and the make-up working Saturday (调休) 2026-10-10.
    ({"kind": "wd"}, local("2026-10-10 16:00")),
    ({"kind": "expr", "hours": "5h"}, local("2026-09-30 21:00")),
    ({"kind": "due", "promised": "2026-10-09T10:00:00+08:00"}, local("2026-10-09 10:00")),
])
def test_every_deadline_form_is_missed_at_its_due_time(sessions, data, due):
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    state = _start(wf, sessions, data)
    assert _due(state) == due
    clock.set(due - timedelta(minutes=1))
    worker.run_once()
    assert [e.type for e in _events(sessions, state["id"]) if e.type != "deadline:reminder"] == []
    clock.set(due)
    worker.run_once()
    missed = [e for e in _events(sessions, state["id"]) if e.type == "deadline:missed"]
    assert len(missed) == 1 and datetime.fromisoformat(missed[0].data["due_at"]) == due


def test_reminder_and_escalation_levels_to_manager_then_roles(sessions):
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    state = _start(wf, sessions, {"kind": "h"})
    task = open_task(state, "hours")
    with sessions() as s:  # clerk1 (manager: chief1) takes the task
        wf.claim(s, task, "clerk1")
        s.commit()
    clock.set(local("2026-09-30 16:45"))
    worker.run_once()
    assert [e.type for e in _events(sessions, state["id"])] == ["deadline:reminder"]
    # The worker was down from 16:50 to the next morning: it catches up on start.
    clock.set(local("2026-10-01 19:30"))
    stats = worker.run_once()
    assert stats.changed == 1
    fired = _events(sessions, state["id"])
    assert [(e.type, e.data.get("level")) for e in fired] == [
        ("deadline:reminder", None), ("deadline:missed", None), ("deadline:escalated", 1),
        ("deadline:escalated", 2), ("deadline:escalated", 3)]
    assert fired[1].data["due_at"] == local("2026-09-30 17:00").astimezone(UTC).isoformat()
    assert fired[2].data["to"] == "manager" and fired[2].data["user"] == "chief1"
    assert fired[2].data["of"] == "clerk1"
    assert fired[3].data["to"] == "chief" and fired[4].data["to"] == "director"
    clock.advance(days=30)
    worker.run_once()
    assert len(_events(sessions, state["id"])) == 5  # each fired once
    with sessions() as s:
        # The task is in the inboxes it was escalated to (claimed by clerk1 or not), and in
        # no other clerk's.
        for who, roles in (("chief1", []), ("chief1", ["timed-steps.chief"]),
                           ("boss", ["timed-steps.director"])):
            assert task in [t.id for t in store.open_tasks_for(s, roles, who)], (who, roles)
        assert task not in [t.id for t in store.open_tasks_for(s, ["timed-steps.clerk"], "clerk2")]
    with sessions() as s:
        # The manager may now act on the task: escalation made it theirs too.
        wf.reassign(s, task, "chief1", "clerk2", "忙不过来")
        s.commit()
        check_consistent(s)
        assert store.verify(s) == []
        kinds = {(n.username, n.kind) for n in tk.notifications_for(s, "chief1")}
        assert ("chief1", "escalated") in kinds


def test_escalation_to_manager_falls_back_to_a_role_and_says_so(sessions):
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    state = _start(wf, sessions, {"kind": "due", "promised": "2026-10-09T10:00:00+08:00"}, user="clerk2")
    with sessions() as s:
        wf.claim(s, open_task(state, "by_due"), "clerk2")  # clerk2 has no manager
        s.commit()
    clock.set(local("2026-10-09 10:00"))
    Worker(wf, sessions).run_once()
    [esc] = [e for e in _events(sessions, state["id"]) if e.type == "deadline:escalated"]
    assert esc.data["to"] == "director" and esc.data["fallback"] == "manager"
    assert "clerk2 has no manager" in esc.data["reason"]


def test_released_task_escalates_to_the_last_holders_manager(sessions):
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    state = _start(wf, sessions, {"kind": "h"})
    task = open_task(state, "hours")
    with sessions() as s:
        wf.claim(s, task, "clerk1")
        s.commit()
    with sessions() as s:
        wf.release(s, task, "clerk1")
        s.commit()
    clock.set(local("2026-09-30 17:00"))
    Worker(wf, sessions).run_once()
    esc = [e for e in _events(sessions, state["id"]) if e.type == "deadline:escalated"]
    assert esc[0].data["user"] == "chief1" and esc[0].data["of"] == "clerk1"


def _started(sessions, procedure_id: str) -> list[Instance]:
    with sessions() as s:
        return list(s.scalars(select(Instance).where(Instance.procedure_id == procedure_id)
                              .order_by(Instance.started_at)))


def test_schedules_fire_each_occurrence_once_and_catch_up(sessions):
    clock = Clock(local("2026-01-01 00:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    worker.run_once()  # the worker sees the schedules: nothing of the past is replayed
    assert _started(sessions, "periodic-report") == []
    # Run the worker once a day for a whole year of procedure time.
    for _ in range(365):
        clock.advance(days=1)
        worker.run_once()
    rows = _started(sessions, "periodic-report")
    by_note: dict[str, list[Instance]] = {}
    for r in rows:
        by_note.setdefault(r.state["data"]["start"]["period_note"], []).append(r)
    assert len(by_note["每月回访"]) == 12
    assert len(by_note["季度投诉汇总"]) == 4
    assert len(by_note["周报"]) == 52
    assert len(by_note["日志"]) == 365
    assert len(by_note["年度计划"]) == 1
    monthly = by_note["每月回访"]
    # "Before the 10th": the first task is due 9 days after the 1st, 08:30.
    for r in monthly:
        occurrence = datetime.fromisoformat(r.state["origin"]["occurrence"]).astimezone(local("2026-01-01 00:00").tzinfo)
        assert (occurrence.day, occurrence.hour, occurrence.minute) == (1, 8, 30)
        [t] = r.state["tasks"].values()
        due = datetime.fromisoformat(t["due_at"]).astimezone(occurrence.tzinfo)
        assert (due.day, due.hour) == (10, 8)
    quarters = sorted(datetime.fromisoformat(r.state["origin"]["occurrence"]).astimezone(monthly[0].started_at.tzinfo).month
                      for r in by_note["季度投诉汇总"])
    assert [local(f"2026-{m:02d}-01 09:00").astimezone(UTC).month for m in (1, 4, 7, 10)] == quarters
    yearly = by_note["年度计划"][0]
    assert yearly.started_by == "system" and yearly.state["origin"]["schedule"] == "yearly day 31 at 09:00"
    # The firing rows are the idempotency key: a second pass at the same time starts nothing.
    assert worker.run_once().started == 0
    with sessions() as s:
        assert len(tk.firings(s, "periodic-report")) == len(rows)


def test_schedule_catches_up_after_a_worker_was_down(sessions):
    clock = Clock(local("2026-03-01 12:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    worker.run_once()
    clock.advance(days=10)  # down for ten days
    worker.run_once()
    notes = [r.state["data"]["start"]["period_note"] for r in _started(sessions, "periodic-report")]
    assert notes.count("日志") == 10
    assert notes.count("周报") == 2  # Mondays 2 and 9 March


def _contract(wf, sessions, customer: str, expires: str, delivered: str, remind: bool) -> str:
    with sessions() as s:
        state = wf.start(s, "contract", "clerk1", {})
        wf.complete_task(s, open_task(state, "contract"), "clerk1", {
            "customer": customer, "expires_on": expires, "delivered_on": delivered,
            "auto_remind": remind})
        s.commit()
    return state["id"]


def test_triggers_start_relative_to_a_date_in_another_record(sessions):
    clock = Clock(local("2026-01-05 09:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    worker.run_once()  # the triggers are installed now
    a = _contract(wf, sessions, "甲医院", "2026-05-15", "2026-01-06", True)
    b = _contract(wf, sessions, "乙医院", "2026-05-20", "2026-01-08", False)
    seen_calls: list[str] = []
    for _ in range(110):
        clock.advance(days=1)
        worker.run_once()
        seen_calls = [r.origin_instance for r in _started(sessions, "follow-up-call")]
        if clock.now == local("2026-01-11 09:00"):
            # 5 days after 2026-01-06 00:00 has passed for a, not yet for b (2026-01-13).
            assert seen_calls == [a]
    calls = _started(sessions, "follow-up-call")
    assert [c.origin_instance for c in calls] == [a, b]
    first = calls[0]
    assert first.state["data"]["start"] == {"customer": "甲医院"}
    started = datetime.fromisoformat(first.state["origin"]["occurrence"])
    assert started == local("2026-01-11 00:00")
    [t] = first.state["tasks"].values()
    assert datetime.fromisoformat(t["due_at"]) == local("2026-01-13 00:00")  # within 5-7 days
    reminders = _started(sessions, "contract-reminder")
    # Three months and one month before expiry, only where the contract asks for reminders.
    assert [r.origin_instance for r in reminders] == [a, a]
    assert [datetime.fromisoformat(r.state["origin"]["occurrence"]) for r in reminders] == [
        local("2026-02-15 00:00"), local("2026-04-15 00:00")]
    assert reminders[0].state["data"]["start"] == {"customer": "甲医院", "period_note": "到期前三个月"}
    assert reminders[1].state["data"]["start"] == {"customer": "甲医院"}
    assert worker.run_once().started == 0


def test_trigger_does_not_replay_records_older_than_itself(sessions):
    clock = Clock(local("2026-01-05 09:00"))
    wf = time_setup(sessions, clock)
    _contract(wf, sessions, "老客户", "2026-01-20", "2025-12-01", True)
    clock.advance(days=1)
    # The procedures (and their triggers) were registered at 2026-01-05 09:00; the delivery of
    # 2025-12-01 + 5 days fell due before that and is marked, not started.
    Worker(wf, sessions).run_once()
    assert _started(sessions, "follow-up-call") == []
    with sessions() as s:
        [f] = [f for f in tk.firings(s, "follow-up-call")]
        assert f.instance_id is None and "before this trigger was installed" in f.error
    # The contract reminder (2025-12-20) too.
    assert _started(sessions, "contract-reminder") == []


def test_trigger_is_checked_against_the_procedure_it_watches(tmp_path):
    import shutil

    from engine.language.procedure import load_library
    from tests.helpers.time import TIME

    lib_dir = tmp_path / "procedures"
    shutil.copytree(TIME / "procedures", lib_dir)
    bad = lib_dir / "follow-up-call.yaml"
    bad.write_text(bad.read_text(encoding="utf-8")
                   .replace("field: contract.delivered_on", "field: contract.deliverd_on")
                   .replace("with: {customer: contract.customer}",
                            "with: {client: contract.custome}"), encoding="utf-8")
    problems = [f"{p.line}:{p.col}: {p.message}" for p in load_library([lib_dir, TIME / "forms"]).problems]
    assert problems[0].startswith("7:43: 'contract.deliverd_on' is not a field of procedure 'contract'")
    assert problems[1].startswith("8:12: 'client' is not a field of the start form 'customer'")
    assert problems[2] == "8:20: unknown field 'contract.custome'; did you mean 'contract.customer'?"
    assert len(problems) == 3


def test_cli_worker_once_and_user_manager(db_url, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from engine.cli import main
    from tests.helpers.time import TIME

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {{url: '{db_url}'}}\n"
        f"paths: {{procedures: '{TIME / 'procedures'}', forms: '{TIME / 'forms'}'}}\n"
        "roles: {clerk: [clerks], chief: [chiefs], director: [directors]}\n", encoding="utf-8")
    runner = CliRunner()

    def wf(*args, stdin=None):
        return runner.invoke(main, ["--config", str(cfg), *args], input=stdin)

    assert wf("db", "upgrade").exit_code == 0
    assert wf("procedures", "load").exit_code == 0
    assert wf("user", "add", "boss", "--group", "chiefs", "--password-stdin", stdin="a long passphrase 7\n").exit_code == 0
    r = wf("user", "add", "clerk9", "--group", "clerks", "--manager", "nobody", "--password-stdin", stdin="a long passphrase 7\n")
    assert r.exit_code == 1 and "There is no user 'nobody'; name an existing user as the manager" in r.output
    assert wf("user", "add", "clerk9", "--group", "clerks", "--manager", "boss",
              "--password-stdin", stdin="a long passphrase 7\n").exit_code == 0
    assert "manager: boss" in wf("user", "list").output
    assert wf("user", "manager", "clerk9").output.strip() == "Manager of clerk9: none."
    assert "cannot be their own manager" in wf("user", "manager", "boss", "boss").output
    r = wf("worker", "--once")
    assert r.exit_code == 0, r.output
    assert "timers: 0 due, 0 fired; starts: 0; deliveries: 0 sent, 0 failed" in r.output


def test_worker_thread_of_wf_serve_keeps_time_until_stopped(sessions):
    import time

    from engine.app.worker import start_thread

    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    state = _start(wf, sessions, {"kind": "h"})
    thread, stop = start_thread(wf, sessions, interval=0.05)
    try:
        clock.set(local("2026-09-30 17:00"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(e.type == "deadline:missed" for e in _events(sessions, state["id"])):
            time.sleep(0.05)
        assert any(e.type == "deadline:missed" for e in _events(sessions, state["id"]))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_an_instance_whose_timer_fails_does_not_hold_up_the_others(sessions, caplog):
    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions, batch=2)
    with sessions() as s:
        broken = [wf.start(s, "broken-wake", "clerk1", {"customer": "某医院"})["id"] for _ in range(3)]
        s.commit()
    good = _start(wf, sessions, {"kind": "h"})["id"]
    clock.set(local("2026-09-30 17:00"))
    worker.run_once()
    assert [e.type for e in _events(sessions, good) if e.type == "deadline:missed"] == ["deadline:missed"]
    assert "datetime() needs an ISO date-time such as" in caplog.text
    with sessions() as s:
        rows = [s.get(Instance, i) for i in broken]
        # Untouched, and tried again five minutes later.
        assert all(r.rev == 1 and r.next_timer_at == local("2026-09-30 17:05") for r in rows)


def test_trigger_fires_for_a_record_created_after_it_even_when_already_due(sessions):
    clock = Clock(local("2026-01-05 09:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    worker.run_once()  # the triggers are installed now
    clock.advance(days=1)
    # Recorded after the installation, delivered a month ago: delivery + 5 days is long past,
    # and the follow-up call is still owed (it used to be marked as "before the trigger").
    late = _contract(wf, sessions, "新客户", "2026-01-20", "2025-12-01", True)
    worker.run_once()
    assert [c.origin_instance for c in _started(sessions, "follow-up-call")] == [late]
    # The reminders three months (2025-10-20) and one month (2025-12-20) before expiry too, at once:
    # each trigger is its own rule.
    assert [r.origin_instance for r in _started(sessions, "contract-reminder")] == [late, late]
    assert worker.run_once().started == 0


@pytest.mark.parametrize(("due_utc", "shown"), [
    ("2026-11-30T16:30:00+00:00", "2026-12-01 00:30 北京时间"),
    ("2026-11-30T23:30:00+00:00", "2026-12-01 07:30 北京时间"),
    ("2026-11-30T15:30:00+00:00", "2026-11-30 23:30 北京时间"),
])
def test_notifications_show_due_times_in_local_time_with_the_zone(due_utc, shown):
    from engine.app.notify import text

    data = {"procedure_title": "电话回访与考核", "step_title": "电话回访", "due_at": due_utc}
    assert text("missed", data, "zh") == f"已超期：电话回访与考核 · 电话回访（应于 {shown} 完成）"
    # The English line names the zone too; a calendar in another zone shows its own.
    assert "Beijing time" in text("reminder", data, "en")
    assert "Europe/Berlin" in text("reminder", {**data, "timezone": "Europe/Berlin"}, "en")


def test_a_stalled_timer_says_why_until_a_later_tick_succeeds(sessions):
    """Never a silent stall: the instance whose condition after a wait fails on its data keeps
    the reason (what the instance page shows) until the data is corrected and a tick goes on."""
    from sqlalchemy.orm.attributes import flag_modified

    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    worker = Worker(wf, sessions)
    with sessions() as s:
        broken = wf.start(s, "broken-wake", "clerk1", {"customer": "某医院"})["id"]
        s.commit()
    good = _start(wf, sessions, {"kind": "h"})["id"]
    clock.set(local("2026-09-30 17:00"))
    worker.run_once()
    with sessions() as s:
        why = tk.stalled_reason(s, broken)
        assert why and "datetime() needs an ISO date-time such as" in why
        assert tk.stalled_reason(s, good) is None
        # Tried again five minutes later: still failing, still said (one row, kept fresh).
    clock.set(local("2026-09-30 17:05"))
    worker.run_once()
    with sessions() as s:
        assert tk.stalled_reason(s, broken) == why
        assert len([f for f in tk.firings(s) if f.rule == tk.STALLED]) == 1
        # The data the condition needs is corrected (as 更正数据 would): the next try goes on.
        row = s.get(Instance, broken)
        row.state["data"]["start"]["customer"] = "2026-09-30T10:00:00+08:00"
        flag_modified(row, "state")
        s.commit()
    clock.set(local("2026-09-30 17:10"))
    worker.run_once()
    with sessions() as s:
        assert tk.stalled_reason(s, broken) is None
        assert s.get(Instance, broken).rev > 1
