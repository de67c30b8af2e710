"""Groups on the command line: ``wf user add --group`` warns about a group no role uses (a
typo gives no role), and ``wf user groups`` changes an existing user's groups through the
same use case as the user's page, recorded in the organisation chart's chain."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.app import org
from engine.cli import main
from engine.store import make_engine, session_factory
from engine.store import org as org_store
from tests.helpers.service import config

PASSWORD = "a long passphrase 7\n"


@pytest.fixture
def wf(db_url, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(config().root / "config.yaml"))
    runner = CliRunner()
    return lambda *args, stdin=None: runner.invoke(main, list(args), input=stdin)


def _org_events(db_url):
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            return org_store.events(s)
    finally:
        engine.dispose()


def test_a_group_no_role_uses_is_warned_about_and_the_user_still_created(wf):
    added = wf("user", "add", "li", "--group", "qa-inspector", "--group", "admins", "--password-stdin",
               stdin=PASSWORD)
    assert added.exit_code == 0, added.output
    assert added.stdout == "Created user li (groups: admins, qa-inspector).\n"
    warning = added.stderr
    assert warning.startswith("Warning: no role in config.yaml uses the group 'qa-inspector' "
                              "(did you mean 'qa-inspectors'?), so it gives li nothing.")
    assert "admins" not in warning.split("Groups roles use:")[0]  # only the unknown one is named
    assert "Groups roles use: " in warning and "qa-inspectors, " in warning
    assert "wf user groups li" in warning
    assert warning.count("\n") == 1
    # A group that gives something (a role, auditing, clearance) is not warned about.
    quiet = wf("user", "add", "wang", "--group", "auditors", "--group", "data-officers", "--group", "qa-inspectors",
               "--password-stdin", stdin=PASSWORD)
    assert quiet.exit_code == 0 and quiet.stderr == ""
    far = wf("user", "add", "zhao", "--group", "xyzzy", "--password-stdin", stdin=PASSWORD)
    assert far.exit_code == 0 and "'xyzzy'" in far.stderr and "did you mean" not in far.stderr


def test_user_groups_sets_adds_and_removes_through_the_edit_use_case(wf, db_url):
    assert wf("user", "add", "li", "--group", "qa-inspectors", "--password-stdin", stdin=PASSWORD).exit_code == 0
    shown = wf("user", "groups", "li")
    assert shown.exit_code == 0 and shown.output == "li: qa-inspectors\n"
    changed = wf("user", "groups", "li", "qa-supervisors", "admins")
    assert changed.exit_code == 0, changed.output
    assert changed.output == "Groups of li: admins, qa-supervisors (were: qa-inspectors).\n"
    events = _org_events(db_url)
    last = events[-1]
    assert last.type == "org:user_edited" and last.actor == org.command_line()
    assert last.data["changes"] == {"groups": {"before": ["qa-inspectors"], "after": ["admins", "qa-supervisors"]}}
    added = wf("user", "groups", "li", "--add", "qa-inspector", "--remove", "admins")
    assert added.exit_code == 0
    assert added.stdout == "Groups of li: qa-inspector, qa-supervisors (were: admins, qa-supervisors).\n"
    assert "did you mean 'qa-inspectors'?" in added.stderr
    same = wf("user", "groups", "li", "--add", "qa-supervisors")
    assert same.output == "li already has these groups: qa-inspector, qa-supervisors; nothing changed.\n"
    assert len(_org_events(db_url)) == len(events) + 1  # the unchanged call recorded nothing
    assert wf("user", "list").output.splitlines() == ["li\t-\tqa-inspector,qa-supervisors"]
    cleared = wf("user", "groups", "li", "--remove", "qa-inspector", "--remove", "qa-supervisors")
    assert cleared.output == "Groups of li: - (were: qa-inspector, qa-supervisors).\n"


def test_user_groups_refusals(wf):
    missing = wf("user", "groups", "ghost", "admins")
    assert missing.exit_code == 1 and "user 'ghost' does not exist" in missing.output
    assert wf("user", "add", "li", "--password-stdin", stdin=PASSWORD).exit_code == 0
    both = wf("user", "groups", "li", "admins", "--add", "qa-inspectors")
    assert both.exit_code == 2 and "either" in both.output
    long = wf("user", "groups", "li", "x" * 101)
    assert long.exit_code == 1 and "at most 100 characters" in long.output
