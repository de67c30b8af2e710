"""The inbox reads the instances of its tasks together: a role with many open tasks must not
cost one read per task (300 open tasks were 302 statements and 190 ms on PostgreSQL, most of
a busy server's inbox time). On SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from engine import store
from engine.app import tasks

START = {"customer": "某市人民医院", "product_name": "输液泵", "serial_no": "SN-1", "quantity": 1}


@pytest.fixture
def app(db_url, tmp_path):
    from web import create_app

    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url, "paths.uploads": str(tmp_path)}})
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp", "pw-insp-123456", ["qa-inspectors"], full_name="检验员")
    yield app
    app.extensions["services"].database.engine.dispose()


def _start(app, n: int) -> list[str]:
    wf, svc = app.extensions["workflow"], app.extensions["services"]
    with svc.database.sessions() as s:
        ids = [wf.start(s, "after-sales-inspection", "insp", {**START, "serial_no": f"SN-{i}"})["id"]
               for i in range(n)]
        s.commit()
    return ids


def _statements(app, call) -> tuple[int, object]:
    engine = app.extensions["services"].database.engine
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), result


def test_the_inbox_reads_as_much_for_thirty_tasks_as_for_three(app):
    svc = app.extensions["services"]
    first = _start(app, 3)
    tasks.inbox(svc, "insp")  # warm: procedure versions, compiled statements
    few, rows = _statements(app, lambda: tasks.inbox(svc, "insp"))
    assert sorted(r.instance_id for r in rows) == sorted(first)
    more = _start(app, 27)
    many, rows = _statements(app, lambda: tasks.inbox(svc, "insp"))
    assert sorted(r.instance_id for r in rows) == sorted(first + more)
    assert many == few <= 5, (few, many)
    # What each row says still comes from its own instance.
    by_instance = {r.instance_id: r for r in rows}
    with svc.database.reading() as s:
        for iid in more[:3]:
            assert by_instance[iid].serial == s.get(store.Instance, iid).serial


def test_a_long_queue_shows_the_most_urgent_hundred_and_all_on_request(app):
    from tests.web.test_web_ui import Browser
    from web.html.inbox import INBOX_SHOWN

    ids = _start(app, INBOX_SHOWN + 5)
    b = Browser(app)
    b.login("insp", "pw-insp-123456")
    page = b.get("/").text
    assert page.count('data-task="') == INBOX_SHOWN
    assert f"共 {INBOX_SHOWN + 5} 项任务，这里显示最紧急的 {INBOX_SHOWN} 项。" in page
    # Same due time for all: the oldest first, so the five newest wait for "show all".
    assert all(f'data-instance="{iid}"' not in page and iid not in page for iid in ids[-5:])
    everything = b.get("/?all=1").text
    assert everything.count('data-task="') == INBOX_SHOWN + 5 and 'id="tasks-more"' not in everything


def test_the_inbox_asks_once_for_all_procedures_and_the_user(app, backend):
    """The inbox and the list of what the user may start look at every installed procedure
    (38 ship) with the user's roles in each: they read the current versions and the user once,
    not once per procedure (two reads each per procedure were 150 statements per inbox page,
    a fifth of its time on PostgreSQL), and an instance's state only where a row needs it.
    Counted by SQLite itself: the hot path's prepared statements bypass SQLAlchemy's events."""
    if backend != "sqlite":
        pytest.skip("counted by SQLite's trace; the code path is the same on PostgreSQL")
    svc = app.extensions["services"]
    _start(app, 30)
    seen: list[str] = []
    engine = svc.database.engine
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection, _record) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    try:
        rows = tasks.inbox(svc, "insp")
        startable = tasks.startable(svc, "insp")
    finally:
        event.remove(engine, "connect", _trace)
        engine.dispose()
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(rows) == 30 and any(p.id == "after-sales-inspection" for p in startable)
    assert len(reads) <= 8, "\n".join(reads)
    assert not any("instances.state" in s for s in reads), "no row of this inbox needs its state"


def test_a_queue_longer_than_a_page_can_list_says_so(app, monkeypatch):
    """"Show all" lists at most INBOX_ALL; a longer queue said "all 500" of what were more."""
    from tests.web.test_web_ui import Browser
    from web.html import inbox

    monkeypatch.setattr(inbox, "INBOX_SHOWN", 3)
    monkeypatch.setattr(inbox, "INBOX_ALL", 5)
    _start(app, 7)
    b = Browser(app)
    b.login("insp", "pw-insp-123456")
    page = b.get("/").text
    assert page.count('data-task="') == 3
    assert "任务超过 5 项，这里显示最紧急的 3 项；处理或转交一些后可看到其余任务。" in page and "显示最紧急的 5 项" in page
    everything = b.get("/?all=1").text
    assert everything.count('data-task="') == 5 and "任务超过 5 项，这里显示最紧急的 5 项" in everything
    assert "显示全部" not in everything
