"""PostgreSQL's pooled connections are pinged only when in doubt (engine.store.db): a
connection the server has closed is replaced before anyone uses it, a busy healthy one goes
out without the round trip ``pool_pre_ping`` spent on every transaction.

Real PostgreSQL (``WF_TEST_DATABASE_URL``); the server side is killed for real with
``pg_terminate_backend``.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from engine.store import db, make_engine


@pytest.fixture
def pg(backend, db_url):
    if backend != "postgresql":
        pytest.skip("PostgreSQL's connection pool (set WF_TEST_DATABASE_URL)")
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    admin = make_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        yield engine, admin
    finally:
        engine.dispose()
        admin.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())


def count_pings(engine, monkeypatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_the_server_closed_is_replaced_before_use(pg, monkeypatch):
    engine, admin = pg
    pings = count_pings(engine, monkeypatch)
    first = backend_pid(engine)
    with admin.connect() as c:
        assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar_one()
        deadline = time.monotonic() + 10
        while c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": first}).scalar_one():
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.05)
    # Used a moment ago, so only the server's goodbye on the socket can tell it is dead.
    second = backend_pid(engine)
    assert second != first
    # the first connection when new, the doubt about it once dead (that ping failed), and
    # its replacement when new
    assert len(pings) == 3


def test_a_busy_healthy_connection_is_not_pinged_and_an_idle_one_is(pg, monkeypatch):
    engine, _admin = pg
    pings = count_pings(engine, monkeypatch)
    pid = backend_pid(engine)
    for _ in range(5):
        assert backend_pid(engine) == pid
    assert len(pings) == 1  # only when it was new
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    assert backend_pid(engine) == pid
    assert len(pings) == 2
