"""Notifications written by INSERT ... SELECT (issue 20, "cheaper steps"): when nothing is
to be sent (no SMTP, no webhook for the kind), a step writes its in-app notifications for
the users and groups they name and the database finds the people as it inserts, instead
of looking them up first. They must be exactly those the look-up writes (still used when
an e-mail or a webhook needs the names): active users only, each once even when they are
in two of the role's groups, a named user directly. SQLite and (when configured)
PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from engine.app.service import Workflow
from engine.config import load_config
from engine.runtime.machine import open_tasks
from engine.store import timekeeping as tk
from engine.store import users
from engine.store.tables import Notification
from tests.helpers.store import add_colleagues
from tests.helpers.time import PASSWORD, PEOPLE, ROOT, TIME, Clock, local


def config(**notifications):
    overrides = {
        "paths.procedures": str(TIME / "procedures"), "paths.forms": str(TIME / "forms"),
        # clerk1 is in both groups of the clerk role: one notification all the same
        "roles": {"clerk": ["clerks", "seniors"], "chief": ["chiefs"], "director": ["directors"]},
    }
    if notifications:
        overrides["notifications"] = notifications
    return load_config(ROOT / "config.yaml", overrides=overrides)


def scenario(sessions, wf: Workflow) -> str:
    """Start (the clerk role hears of the task), transfer to clerk2 (named), complete (the
    starter hears of it); returns the instance id."""
    with sessions.begin() as s:
        st = wf.start(s, "timed-steps", "clerk1", {"kind": "d"})
    task = f"{st['id']}.{open_tasks(st)[0]['id']}"
    with sessions.begin() as s:
        wf.transfer(s, task, "clerk1", "clerk2", "休假")
    with sessions.begin() as s:
        st = wf.complete_task(s, task, "clerk2", {"result": "已处理"})
    assert st["status"] == "completed"
    return st["id"]


def notes(sessions, instance_id: str) -> list[tuple]:
    with sessions() as s:
        rows = s.scalars(select(Notification).where(Notification.instance_id == instance_id)
                         .order_by(Notification.id))
        return [(n.username, n.kind, (n.task_id or "").removeprefix(instance_id), n.data, n.read_at)
                for n in rows]


def test_the_insert_select_writes_what_the_look_up_writes(sessions):
    clock = Clock(local("2026-09-30 16:00"))
    silent = Workflow(config(), clock=clock)
    hooked = Workflow(config(webhooks=[{"url": "http://127.0.0.1:9/hook", "secret": "s"}]), clock=clock)
    with sessions.begin() as s:
        silent.load_procedures(s)
        for name, (groups, manager, email) in PEOPLE.items():
            extra = ["seniors"] if name == "clerk1" else []
            users.add_user(s, name, PASSWORD, groups + extra, full_name=name, email=email, manager=manager)
        users.add_user(s, "senior9", PASSWORD, ["seniors"], full_name="senior9")
        users.add_user(s, "clerk3", PASSWORD, ["clerks"], full_name="clerk3")
    with sessions.begin() as s:
        users.set_active(s, "clerk3", False)
    with sessions.begin() as s:
        hooked.load_procedures(s)

    quiet = scenario(sessions, silent)
    with sessions() as s:
        assert tk.deliveries(s, limit=10) == []  # nothing to send: the INSERT ... SELECT path
    loud = scenario(sessions, hooked)
    with sessions() as s:
        assert len(tk.deliveries(s, limit=10)) == 3  # a webhook each: the look-up path

    got = notes(sessions, quiet)
    assert [(u, k) for u, k, *_ in got] == [
        ("clerk1", "assigned"), ("clerk2", "assigned"), ("senior9", "assigned"),
        ("clerk2", "transferred"), ("clerk1", "completed")]
    assert all(task for _, k, task, _, _ in got if k != "completed")
    assert got == notes(sessions, loud)


TIME_0 = local("2026-09-30 08:00")


def test_a_step_finds_the_people_to_notify_by_index_among_thousands(sessions, engine):
    """Every step that opens a task notifies its role's groups. Among 3,000 users the insert
    finds the few members by index: a scan of users or memberships grows with the company
    (it cost 0.8 ms of each such step on SQLite with 5,000 users; issue 20). The people are
    still exactly the groups' active members and the named user, each once."""
    from sqlalchemy import text

    with sessions.begin() as s:
        for name, groups in (("clerk1", ["clerks", "seniors"]), ("clerk2", ["clerks"]),
                             ("clerk3", ["clerks"]), ("chief1", ["chiefs"])):
            users.add_user(s, name, PASSWORD, groups, full_name=name)
        users.set_active(s, "clerk3", False)
        add_colleagues(s, 3000, 300)
    with sessions.begin() as s:
        s.execute(text("ANALYZE"))
    notice = {"users": ["chief1"], "groups": ["clerks", "seniors"], "kind": "assigned",
              "instance_id": None, "task_id": None, "data": {}, "created_at": TIME_0}
    calls = tk.notify_people_writes([notice])
    sql, rows = calls[0][0].bound(engine.dialect, calls[0][1])
    with sessions() as s:
        raw = s.connection().connection.dbapi_connection
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("EXPLAIN " + sql, rows[0])
            plan = "\n".join(r[0] for r in cursor.fetchall())
            assert "Seq Scan on users" not in plan and "Seq Scan on user_groups" not in plan, plan
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, rows[0])
            plan = "\n".join(r[-1] for r in cursor.fetchall())
            assert "SCAN users" not in plan and "SCAN user_groups" not in plan, plan
        cursor.close()
        s.rollback()
    with sessions.begin() as s:
        from engine.store.prepared import batch

        batch(s, calls)
    with sessions() as s:
        got = s.scalars(select(Notification.username).order_by(Notification.id)).all()
    assert got == ["chief1", "clerk1", "clerk2"]
