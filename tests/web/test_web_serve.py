"""``wf serve --demo``: demo users, one per configured group, only into an empty database."""

from __future__ import annotations

from click.testing import CliRunner

from engine import store
from engine.cli.serve import create_demo_users, demo_groups
from web import create_app


def test_demo_groups_come_from_config_roles():
    assert demo_groups({"a": ["g1", "g2"], "b": ["g2", "g3"], "c": None}) == ["g1", "g2", "g3"]


def test_demo_users_only_when_there_are_none(db_url):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url}})
    made = create_demo_users(app)
    names = [u for u, _ in made]
    assert "qa-inspectors" in names and "qa-supervisors" in names
    assert {"auditors", "data-officers", "editors", "doc-approvers"} <= set(names)  # audit:, editor roles
    with app.extensions["services"].database.sessions() as s:
        user = store.check_password(s, "qa-inspectors", "demo")
        assert user is not None and user.full_name and store.groups_of(user) == ["qa-inspectors"]
    assert create_demo_users(app) == []
    client = app.test_client()
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post("/login", data={"username": "qa-inspectors", "password": "demo", "csrf_token": token})
    assert r.status_code == 302
    app.extensions["services"].database.engine.dispose()


def test_serve_help_lists_options():
    from engine.cli import main

    out = CliRunner().invoke(main, ["serve", "--help"]).output
    for opt in ("--host", "--port", "--demo", "--workers"):
        assert opt in out
