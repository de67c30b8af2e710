"""Spawn retries under a backlog: the worker retried the oldest ``batch`` failed spawns every
pass (every 5 s, each a write), so with that many still refused the newer ones, whose child
procedure had since been fixed, were never tried again."""

from __future__ import annotations

from datetime import UTC, datetime

from engine import store
from engine.app import scheduler
from engine.app.database import Database
from engine.app.service import SPAWN_RULE, Workflow
from engine.config import load_config
from engine.store import timekeeping as tk
from engine.store import users
from tests.app.test_spawn_failures import _write
from tests.helpers.service import PASSWORD, ROOT, open_task
from tests.helpers.time import Clock


def test_refused_spawns_wait_their_turn_and_do_not_starve_the_others(engine, sessions, tmp_path):
    _write(tmp_path, "^[A-Z]+$")
    cfg = load_config(ROOT / "config.yaml", overrides={
        "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "roles": {"clerk": ["clerks"]}})
    clock = Clock(datetime.now(UTC))  # versions are registered at the real time
    wf = Workflow(cfg, clock=clock)
    with sessions() as s:
        wf.load_procedures(s)
        users.add_user(s, "clerk1", PASSWORD, ["clerks"], full_name="专员甲")
        s.commit()
    parents = []
    for code in ("abc", "def", "ghi"):
        with sessions() as s:
            state = wf.start(s, "parent", "clerk1", {})
            parents.append(wf.complete_task(s, open_task(state, "register"), "clerk1", {"code": code})["id"])
            s.commit()
    # the child now takes "ghi" (and still refuses the two older ones)
    _write(tmp_path, "^(ghi|[A-Z]+)$")
    with sessions() as s:
        wf.load_procedures(s)
        s.commit()
    database = Database(engine)
    opened = 0
    for _ in range(4):  # four passes a few seconds apart, a batch of 2
        clock.advance(seconds=5)
        opened += scheduler.retry_spawns(wf, database, limit=2)
    assert opened == 1
    with sessions() as s:
        assert [c.procedure_id for c in store.spawned_from(s, parents[2])] == ["child"]
        assert len(tk.failed_firings(s, SPAWN_RULE, 10)) == 2
    # a refused one is tried again later, not on every pass
    tried: list[str] = []
    real = wf.spawn_link

    def counting(s, origin, *args, **kw):
        tried.append(origin["instance"])
        return real(s, origin, *args, **kw)

    wf.spawn_link = counting  # type: ignore[method-assign]
    clock.advance(seconds=5)
    scheduler.retry_spawns(wf, database, limit=2)
    assert tried == []
    clock.advance(hours=2)
    scheduler.retry_spawns(wf, database, limit=2)
    assert sorted(tried) == sorted(parents[:2])
