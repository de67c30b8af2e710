"""The database itself refuses to rewrite the audit trail (issue 14, item 3): after
``wf db upgrade``, UPDATE and DELETE of events fail on SQLite and PostgreSQL, whoever sends
them, and nothing changes; on PostgreSQL TRUNCATE too, and the least-privilege server role of
docs/operations.md can insert events but neither alter nor drop the triggers."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from engine.store import Event, create_instance, register_procedure_version
from engine.store.insert_only import MESSAGE
from tests.helpers.store import FORMS, procedure_text
from tests.store.test_audit import _events, _state

ATTACKS = [
    "UPDATE events SET actor = 'mallory'",
    "UPDATE events SET data = '{}' WHERE seq = 2",
    "DELETE FROM events WHERE seq = 3",
    "DELETE FROM events",
]


@pytest.fixture
def trail(session):
    version, _ = register_procedure_version(session, "p", procedure_text("p"), FORMS, "t")
    create_instance(session, _state("A"), version.id, _events(3))
    session.commit()
    return session


def _snapshot(engine):
    with engine.connect() as conn:
        return conn.execute(select(Event.__table__).order_by(Event.__table__.c.id)).all()


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_database_refuses_rewrites_of_events(trail, engine, attack):
    before = _snapshot(engine)
    with pytest.raises(DBAPIError) as err, engine.begin() as conn:
        conn.execute(text(attack))
    assert MESSAGE in str(err.value)
    assert _snapshot(engine) == before


def test_postgresql_refuses_truncate(trail, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    with pytest.raises(DBAPIError) as err, engine.begin() as conn:
        conn.execute(text("TRUNCATE events"))
    assert MESSAGE in str(err.value)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Event)) == 3


def test_the_least_privilege_server_role_inserts_but_cannot_lift_the_guard(trail, engine):
    """The role of docs/operations.md, made as that page says: it may insert events (the server
    works) but may not drop or disable the triggers, nor update or delete events."""
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    role, password = f"wf_server_{secrets.token_hex(4)}", secrets.token_hex(8)
    db = engine.url.database
    with engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f"GRANT CONNECT ON DATABASE {db} TO {role}"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON events FROM {role}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    server = create_engine(engine.url.set(username=role, password=password))
    try:
        with server.begin() as conn:
            row = conn.execute(select(Event.__table__).limit(1)).first()._asdict()
            row.pop("id")
            conn.execute(Event.__table__.insert().values({**row, "instance_id": "B", "seq": 1}))
        for attack in [*ATTACKS, "ALTER TABLE events DISABLE TRIGGER USER",
                       "DROP TRIGGER events_insert_only ON events", "TRUNCATE events"]:
            with pytest.raises(DBAPIError), server.begin() as conn:
                conn.execute(text(attack))
    finally:
        server.dispose()
        with engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
