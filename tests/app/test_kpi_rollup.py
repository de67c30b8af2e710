"""The dashboard's daily aggregates: every figure equals what the instance and task rows
say, each write marks its days out of date and a refresh brings exactly those days back in
line, and a change of the declared KPI fields recounts the procedure."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine import store
from engine.app.service import Workflow
from engine.app.worker import Worker
from engine.cli import main
from engine.config import load_config
from engine.runtime.machine import open_tasks
from engine.store import kpi_rollup, make_engine, session_factory, users
from engine.store.kpi_query import kpis, period_label
from engine.store.kpi_rollup import Histogram, bucket
from engine.store.local_time import local_date, local_days_of_utc_day
from engine.store.tables import Instance, KpiCount, KpiPending, KpiSource, Task
from tests.app.test_records_kpis import OVERRIDES, ROOT
from tests.helpers.time import SHANGHAI, Clock

PID = "complaint-demo"
T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)  # a Monday


def percentile_cont(values: list[float], q: float) -> float:
    values = sorted(values)
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


@pytest.fixture
def played(sessions):
    """40 complaints over 20 days: most approved after 1-30 hours (some rejected once),
    some left waiting for registration or verification, four cancelled."""
    clock = Clock(T0)
    wf = Workflow(load_config(ROOT / "config.yaml", overrides=OVERRIDES), clock=clock)
    rng = random.Random(7)
    with sessions.begin() as s:
        wf.load_procedures(s)
        users.add_user(s, "q1", "pw", ["quality-dept"], full_name="质管员")
    for n in range(40):
        clock.set(T0 + timedelta(hours=12 * n + rng.random()))
        with sessions.begin() as s:
            st = wf.start(s, PID, "q1")
            iid = st["id"]
            if n % 10 == 9:
                wf.cancel(s, iid, "q1", "重复登记")
                continue
            if n % 10 == 8:
                continue  # never registered: overdue after 24 h
            clock.advance(hours=rng.uniform(1, 30))
            st = wf.complete_task(s, f"{iid}.{open_tasks(st)[0]['id']}", "q1", {
                "complaint_no": f"TS-{n}", "customer": "某医院", "category": ["产品质量", "服务", "安装"][n % 3],
                "severity": ["一般", "严重"][n % 2]})
            if n % 7 == 3:
                continue  # left waiting for verification
            clock.advance(hours=rng.uniform(0.5, 5))
            approve = n % 4 != 0
            st = wf.decide(s, f"{iid}.{open_tasks(st)[0]['id']}", "q1", approve=approve, comment="" if approve else "证据不足")
            if not approve:
                clock.advance(hours=2)
                st = wf.complete_task(s, f"{iid}.{open_tasks(st)[0]['id']}", "q1", {
                    "complaint_no": f"TS-{n}", "customer": "某医院", "category": "服务", "severity": "一般"})
                clock.advance(hours=1)
                wf.decide(s, f"{iid}.{open_tasks(st)[0]['id']}", "q1", approve=True)
    return wf, clock


def _dashboard(wf, sessions, now, period="week"):
    with sessions() as s:
        r = wf.procedure(s, PID)[0].records
        return kpis(s, PID, T0 - timedelta(days=1), T0 + timedelta(days=40), period, now, SHANGHAI,
                    first_pass=(r.first_pass.field, r.first_pass.passed), breakdown=r.breakdown)


def _expected(sessions, period):
    """The figures computed straight from the rows."""
    with sessions() as s:
        inst = s.execute(select(Instance.started_at, Instance.status, Instance.ended_at)
                         .where(Instance.procedure_id == PID)).all()
        tasks = s.execute(select(Task.step, Task.status, Task.created_at, Task.due_at, Task.completed_at)
                          .where(Task.procedure_id == PID)).all()
    started = Counter(period_label(local_date(a, SHANGHAI).isoformat(), period) for a, _s, _e in inst)
    completed = [(e - a).total_seconds() for a, st, e in inst if st == "completed"]
    steps = {}
    for step in {t.step for t in tasks}:
        mine = [t for t in tasks if t.step == step]
        done = [t for t in mine if t.status == "done"]
        steps[step] = {"created": len(mine), "done": len(done),
                       "open": sum(t.status == "open" for t in mine),
                       "on_time": sum(t.due_at is not None and t.completed_at <= t.due_at for t in done),
                       "with_due": sum(t.due_at is not None for t in done),
                       "seconds": [(t.completed_at - t.created_at).total_seconds() for t in done]}
    return started, completed, steps, inst


def _close(got_hours, seconds, q):
    want = percentile_cont(seconds, q) / 3600
    assert got_hours == pytest.approx(want, rel=0.045, abs=0.01)


def test_figures_equal_the_rows(played, sessions):
    wf, clock = played
    with sessions.begin() as s:
        assert wf.refresh_kpis(s, PID) >= 20
    for period in ("week", "month"):
        k = _dashboard(wf, sessions, clock.now, period)
        started, completed, steps, inst = _expected(sessions, period)
        assert {p["period"]: p["started"] for p in k.periods} == dict(started)
        assert k.totals["started"] == 40 and k.totals["cancelled"] == 4
        assert k.totals["completed"] == len(completed) and k.totals["open"] == 40 - 4 - len(completed)
        _close(k.totals["median_h"], completed, 0.5)
        _close(k.totals["p90_h"], completed, 0.9)
        for st in k.steps:
            want = steps[st["step"]]
            assert {n: st[n] for n in ("created", "done", "open", "on_time", "with_due")} == {
                n: want[n] for n in ("created", "done", "open", "on_time", "with_due")}
            _close(st["median_h"], want["seconds"], 0.5)
            _close(st["p90_h"], want["seconds"], 0.9)
    assert k.breakdown["register.category"] and sum(n for _v, n in k.breakdown["register.severity"]) == 32
    ok, all_ = map(sum, zip(*k.first_pass.values(), strict=True))
    waiting = sum(1 for n in range(40) if n % 7 == 3 and n % 10 not in (8, 9))
    assert all_ == 32 - waiting and 0 < ok < all_  # the ones still waiting have no decision yet


def test_each_write_marks_its_days_and_a_refresh_follows(played, sessions):
    wf, clock = played
    with sessions.begin() as s:
        wf.refresh_kpis(s, PID)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(KpiPending)) == 0
        assert kpi_rollup.is_current(s, PID, wf.kpi_keys(s, PID), SHANGHAI)
        waiting = s.scalars(select(Task.id).where(Task.procedure_id == PID, Task.status == "open",
                                                  Task.step == "verify")).first()
    before = _dashboard(wf, sessions, clock.now)
    clock.advance(hours=1)
    with sessions.begin() as s:
        wf.decide(s, waiting, "q1", approve=True)
    with sessions() as s:
        pending = s.scalars(select(KpiPending.day)).all()
        assert pending and not kpi_rollup.is_current(s, PID, wf.kpi_keys(s, PID), SHANGHAI)
    stale = _dashboard(wf, sessions, clock.now)
    assert stale.totals == before.totals  # nothing moves until the refresh
    with sessions.begin() as s:
        # each UTC day marked is recounted as the local days it overlaps
        assert wf.refresh_kpis(s, PID) == len({d for p in pending for d in local_days_of_utc_day(p, SHANGHAI)})
    after = _dashboard(wf, sessions, clock.now)
    assert after.totals["completed"] == before.totals["completed"] + 1
    assert after.totals["open"] == before.totals["open"] - 1
    verify = {st["step"]: st for st in after.steps}["verify"]
    assert verify["done"] == {st["step"]: st for st in before.steps}["verify"]["done"] + 1
    # a repeated refresh changes nothing
    with sessions.begin() as s:
        assert wf.refresh_kpis(s, PID) == 0
    assert _dashboard(wf, sessions, clock.now).totals == after.totals


def test_overdue_now_equals_the_open_tasks_past_due(played, sessions):
    """Counted from the open tasks by due day, plus those due earlier today: checked at
    moments just before and after deadlines, at midnight, and long after."""
    wf, clock = played
    with sessions.begin() as s:
        wf.refresh_kpis(s, PID)
    with sessions() as s:
        dues = sorted(s.scalars(select(Task.due_at).where(Task.procedure_id == PID, Task.status == "open",
                                                          Task.due_at.is_not(None))))
    assert len(dues) >= 4
    moments = [T0, clock.now + timedelta(days=30)]
    for due in dues[::2]:
        midnight = datetime.combine(due.date(), datetime.min.time(), UTC)
        local = datetime.combine(local_date(due, SHANGHAI), datetime.min.time(), SHANGHAI)
        moments += [due - timedelta(minutes=1), due + timedelta(minutes=1), midnight, midnight + timedelta(days=1),
                    local, local - timedelta(minutes=1), local + timedelta(days=1)]
    seen = set()
    for now in moments:
        with sessions() as s:
            want = s.scalar(select(func.count()).select_from(Task).where(
                Task.procedure_id == PID, Task.status == "open", Task.due_at < now))
        assert _dashboard(wf, sessions, now).totals["overdue"] == want, now
        seen.add(want)
    assert len(seen) >= 3  # the moments do tell the figures apart


def test_other_kpi_fields_recount_the_procedure(played, sessions):
    wf, clock = played
    with sessions.begin() as s:
        wf.refresh_kpis(s, PID)
        days = s.scalar(select(func.count(func.distinct(KpiCount.day))))
        # as if a new version declared other fields: every day is recounted
        assert kpi_rollup.refresh(s, PID, {"register.category"}, clock.now, SHANGHAI) >= days
        fields = set(s.scalars(select(KpiCount.key).where(KpiCount.metric == "field")))
        assert fields == {"register.category"}
        assert wf.refresh_kpis(s, PID) >= days
    with sessions() as s:
        assert kpi_rollup.is_current(s, PID, wf.kpi_keys(s, PID), SHANGHAI)


def test_the_worker_keeps_figures_current(played, sessions):
    wf, _clock = played
    stats = Worker(wf, sessions).run_once()
    assert stats.kpi_days >= 20 and "KPI days" in str(stats)
    with sessions() as s:
        assert kpi_rollup.stale(s, T0, SHANGHAI) == []
    assert Worker(wf, sessions).run_once().kpi_days == 0


def test_cli_counts_and_names_an_unknown_procedure(played, db_url, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    runner = CliRunner()
    out = runner.invoke(main, ["audit", "kpis", "--procedure", PID])
    assert out.exit_code == 0 and out.output.startswith("OK: ") and " 0 day" not in out.output, out.output
    again = runner.invoke(main, ["audit", "kpis"])
    assert again.exit_code == 0 and again.output.startswith("OK: 0 day(s)"), again.output
    bad = runner.invoke(main, ["audit", "kpis", "--procedure", "complaint-dmeo"])
    assert bad.exit_code == 2 and "'complaint-dmeo' is not installed" in bad.output, bad.output


def test_a_new_version_is_looked_at_once(played, sessions):
    """A new version may declare other KPI fields: the rollup compiles it and recounts only
    if they differ; procedures without instances are never counted."""
    wf, _clock = played
    Worker(wf, sessions).run_once()
    with sessions.begin() as s:
        row = store.latest_version(s, PID)
        store.register_procedure_version(s, PID, row.source + "\n# 注释\n", row.forms, row.title)
        assert kpi_rollup.stale(s, T0, SHANGHAI) == [PID]
        assert wf.refresh_kpis(s) == 0  # same fields: nothing recounted
        assert kpi_rollup.stale(s, T0, SHANGHAI) == []
        assert s.get(KpiSource, "survey-demo").keys == ""  # no instances: nothing counted, nothing compiled


@pytest.mark.parametrize("seed", range(5))
def test_histogram_percentiles(seed):
    rng = random.Random(seed)
    values = [rng.lognormvariate(10, 1.5) for _ in range(rng.randint(1, 500))]
    h = Histogram()
    for v in values:
        h.add(bucket(v), 1, v)
    for q, got in zip((0.5, 0.9), h.percentiles(0.5, 0.9), strict=True):
        assert got == pytest.approx(percentile_cont(values, q), rel=RATIO_WIDTH)
    same = Histogram()
    for v in (7200.0, 7200.0, 10800.0, 0.0):
        same.add(bucket(v), 1, v)
    assert same.percentiles(0.5) == [7200.0]  # equal durations read back exactly
    assert Histogram().percentiles(0.5, 0.9) == [None, None]


RATIO_WIDTH = kpi_rollup.RATIO - 1


def _counts(sessions):
    with sessions() as s:
        return sorted(s.execute(select(KpiCount.day, KpiCount.metric, KpiCount.key, KpiCount.value,
                                       KpiCount.n)).all())


def test_refreshes_racing_steps_end_exact(played, sessions, db_url):
    """Steps in several threads while another thread refreshes again and again: after a last
    refresh the figures equal a recount from scratch (no change is lost or counted twice)."""
    wf, clock = played
    with sessions() as s:
        waiting = list(s.scalars(select(Task.id).where(Task.procedure_id == PID, Task.status == "open")))
    errors: list[BaseException] = []
    done = threading.Event()
    engine = make_engine(db_url)
    factory = session_factory(engine)

    def steps(mine: list[str]) -> None:
        try:
            for task in mine:
                with factory.begin() as s:
                    if task.endswith(".t1"):
                        wf.complete_task(s, task, "q1", {"complaint_no": "TS-R", "customer": "某医院",
                                                         "category": "安装", "severity": "一般"})
                    else:
                        wf.decide(s, task, "q1", approve=True)
                for _ in range(3):
                    with factory.begin() as s:
                        wf.start(s, PID, "q1")
        except BaseException as exc:  # reported below
            errors.append(exc)

    def refresher() -> None:
        try:
            while not done.is_set():
                with factory.begin() as s:
                    wf.refresh_kpis(s, PID)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=steps, args=(waiting[i::2],)) for i in range(2)]
    ref = threading.Thread(target=refresher)
    ref.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    done.set()
    ref.join(timeout=60)
    engine.dispose()
    assert not errors, errors
    with sessions.begin() as s:
        wf.refresh_kpis(s, PID)
    incremental = _counts(sessions)
    with sessions.begin() as s:
        kpi_rollup.refresh(s, PID, (), clock.now, SHANGHAI)  # other keys: everything recounted ...
        wf.refresh_kpis(s, PID)  # ... and back, from scratch
    assert incremental == _counts(sessions)
    k = _dashboard(wf, sessions, clock.now)
    assert k.totals["started"] == 40 + 3 * len(waiting)
