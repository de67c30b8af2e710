"""An insider with database access changes who may act: a row in ``user_groups`` gives a
user the clearance group (every masked value in clear) or a role's group; a row in
``users`` adds an account, or reactivates one an administrator deactivated; a row deleted
removes a user. None of these touch an instance's chain, and every role check reads these
tables. ``wf audit verify`` compares them with the organisation chart's trail, on which the
application records each of these changes in the same transaction (``user_added``,
``user_edited``, ``user_activated``/``user_deactivated``; migration 0022 recorded the users
there were before). SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from engine import store
from engine.app import user_admin
from engine.cli import main
from engine.store import org as org_store
from engine.store.audit import GENESIS, event_hash
from engine.store.tables import Group, OrgState, User, user_groups
from tests.app.test_tamper_records import (
    finished_app,  # noqa: F401  (the app fixture)
    raw,
    verify,
)
from tests.helpers.tamper import insider

USERS, GROUPS = User.__table__, Group.__table__


def _id(app, table, column, value) -> int:
    with app.extensions["services"].database.engine.connect() as conn:
        return conn.execute(select(table.c.id).where(column == value)).scalar_one()


def _group(app, name: str) -> int:
    with app.extensions["services"].database.engine.begin() as conn:
        found = conn.execute(select(GROUPS.c.id).where(GROUPS.c.name == name)).scalar()
        return found if found is not None else conn.execute(insert(GROUPS).values(name=name)).inserted_primary_key[0]


def test_users_added_by_the_application_verify(app):
    services = app.extensions["services"]
    user_admin.create(services, "cli:root", "auditor9", "Auditor nine 1!", full_name="审计九",
                      groups=["auditors"], temporary=False)
    user_admin.edit(services, "cli:root", "auditor9", groups=["auditors", "qa-inspectors"])
    user_admin.set_active(services, "cli:root", "auditor9", False)
    code, out = verify()
    assert code == 0 and out.startswith("OK:"), out


def test_a_group_given_by_a_row_is_named(app):
    clearance = _group(app, "clearance")
    raw(app, insert(user_groups).values(user_id=_id(app, USERS, USERS.c.username, "inspector1"),
                                        group_id=clearance))
    code, out = verify()
    assert code == 1, out
    assert ("org: event seq 0 (id 0): users differ from the trail: user 'inspector1' is in groups "
            "clearance, qa-inspectors, the trail gives qa-inspectors: groups were changed outside the application") in out


def test_a_group_taken_by_a_row_is_named(app):
    raw(app, delete(user_groups).where(user_groups.c.user_id == _id(app, USERS, USERS.c.username, "supervisor1")))
    code, out = verify()
    assert code == 1 and "user 'supervisor1' is in groups none, the trail gives qa-supervisors" in out, out


def test_an_account_added_by_a_row_is_named(app):
    raw(app, insert(USERS).values(username="mallory", full_name="", password_hash="!", active=True,
                                  created_at=datetime(2026, 1, 1, tzinfo=UTC), session_version=0))
    raw(app, insert(user_groups).values(user_id=_id(app, USERS, USERS.c.username, "mallory"),
                                        group_id=_group(app, "qa-supervisors")))
    code, out = verify()
    assert code == 1 and ("user 'mallory' (groups: qa-supervisors) is not on the trail: it was added to the "
                          "users table outside the application") in out, out


def test_a_reactivation_by_a_row_is_named(app):
    user_admin.set_active(app.extensions["services"], "cli:root", "inspector1", False)
    assert verify()[0] == 0
    raw(app, update(USERS).where(USERS.c.username == "inspector1").values(active=True))
    code, out = verify()
    assert code == 1 and "user 'inspector1' is active, the trail has them deactivated" in out, out


def test_a_deleted_user_is_named(app):
    uid = _id(app, USERS, USERS.c.username, "supervisor1")
    raw(app, delete(user_groups).where(user_groups.c.user_id == uid), delete(USERS).where(USERS.c.id == uid))
    code, out = verify()
    assert code == 1 and "user 'supervisor1' is on the trail but not in the users table" in out, out


def test_a_trail_event_forged_to_match_breaks_the_chain_instead(app):
    """Rewriting the trail to agree with a forged group breaks the chart's hash chain, which
    is named; the member check then says nothing more (it would compare with a forgery)."""
    raw(app, insert(user_groups).values(user_id=_id(app, USERS, USERS.c.username, "inspector1"),
                                        group_id=_group(app, "clearance")))
    ev = store.Event.__table__
    with app.extensions["services"].database.engine.connect() as conn:
        row = conn.execute(select(ev.c.id, ev.c.data).where(
            ev.c.instance_id == org_store.ORG_CHAIN, ev.c.type == "org:user_added",
            ev.c.data["user"].as_string() == "inspector1")).one()
    data = dict(row.data, groups=["clearance", "qa-inspectors"])
    with insider(app.extensions["services"].database.engine) as conn:
        conn.execute(update(ev).where(ev.c.id == row.id).values(data=data))
    code, out = verify()
    assert code == 1 and "org: event seq" in out and "hash mismatch" in out, out
    assert "users differ from the trail" not in out


def test_the_migration_records_the_users_there_were(unmigrated_db_url):
    """A database with users from before 0022 (added by rows, as the demo and the first user
    pages did without an event) verifies after the upgrade, and a group given afterwards by a
    row is named."""
    engine = store.make_engine(unmigrated_db_url)
    store.upgrade(engine, "0021_must_change_password")
    with engine.begin() as conn:
        gid = conn.execute(insert(GROUPS).values(name="qa-inspectors")).inserted_primary_key[0]
        for name, active in (("old1", True), ("old2", False)):
            uid = conn.execute(insert(USERS).values(
                username=name, full_name="", password_hash="!", active=active, session_version=0,
                created_at=datetime(2025, 1, 1, tzinfo=UTC), must_change_password=False)).inserted_primary_key[0]
            conn.execute(insert(user_groups).values(user_id=uid, group_id=gid))
    store.upgrade(engine)
    sessions = store.session_factory(engine)
    with sessions() as s:
        assert org_store.membership_findings(s) == []
        recorded = org_store.members_on_trail(org_store.events(s))
        assert recorded == {"old1": org_store.Member(("qa-inspectors",), True),
                            "old2": org_store.Member(("qa-inspectors",), False)}
        assert store.verify(s) == [] and org_store.head_problem(s) is None
    with engine.begin() as conn:
        conn.execute(update(USERS).where(USERS.c.username == "old2").values(active=sa.true()))
    with sessions() as s:
        assert org_store.membership_findings(s) == [
            "user 'old2' is active, the trail has them deactivated: changed outside the application"]
    engine.dispose()


def test_a_trail_rewritten_to_match_with_every_hash_recomputed_is_named_by_the_anchors(app, tmp_path, monkeypatch):
    """The insider with the code recomputes the chart's whole chain (and its head on
    ``org_state``) after giving themselves clearance in the trail and in the tables: the
    chain and the member check agree with the forgery; the chart's head anchored outside
    the database before (``wf audit anchor``) does not."""
    monkeypatch.setenv("WF_AUDIT_ANCHORS", str(tmp_path / "anchors.jsonl"))
    anchored = CliRunner().invoke(main, ["audit", "anchor"])
    assert anchored.exit_code == 0 and "chain heads" in anchored.output, anchored.output
    raw(app, insert(user_groups).values(user_id=_id(app, USERS, USERS.c.username, "inspector1"),
                                        group_id=_group(app, "clearance")))
    ev, state = store.Event.__table__, OrgState.__table__
    with insider(app.extensions["services"].database.engine) as conn:
        prev = GENESIS
        for row in conn.execute(select(ev).where(ev.c.instance_id == org_store.ORG_CHAIN).order_by(ev.c.seq)).all():
            data = row.data
            if row.type == "org:user_added" and data["user"] == "inspector1":
                data = dict(data, groups=["clearance", "qa-inspectors"])
            digest = event_hash(instance_id=row.instance_id, seq=row.seq, type=row.type, step=None, task=None,
                                actor=row.actor, at=row.at, data=data, prev_hash=prev)
            conn.execute(update(ev).where(ev.c.id == row.id).values(data=data, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(state).where(state.c.id == 1).values(event_hash=prev))
    monkeypatch.setenv("WF_AUDIT_ANCHORS", str(tmp_path / "elsewhere.jsonl"))
    assert verify()[0] == 0  # without the anchors, the forgery holds together
    monkeypatch.setenv("WF_AUDIT_ANCHORS", str(tmp_path / "anchors.jsonl"))
    code, out = verify()
    assert code == 1 and "BROKEN: org: event seq" in out and "anchored head differs" in out, out
