"""Users, groups and passwords; ``wf user``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.errors import Conflict, NotFound, WorkflowError
from engine.store import (
    add_user,
    check_password,
    get_user,
    groups_of,
    list_users,
    set_groups,
    set_password,
    upgrade,
)


def test_add_and_check(session):
    user = add_user(session, "zhang", "s3cret-密码", ["qa-inspectors", "production"],
                    full_name="张伟", email="zhang@example.com")
    session.commit()
    assert user.password_hash.startswith("scrypt:") and "s3cret" not in user.password_hash
    assert groups_of(user) == ["production", "qa-inspectors"]
    session.expire_all()
    found = check_password(session, "zhang", "s3cret-密码")
    assert found is not None and found.full_name == "张伟" and found.active
    assert check_password(session, "zhang", "wrong") is None
    assert check_password(session, "zhang", "") is None
    assert check_password(session, "nobody", "s3cret-密码") is None


def test_groups_are_shared_and_created_on_demand(session):
    a = add_user(session, "a", "pw", ["qa-inspectors"])
    b = add_user(session, "b", "pw", ["qa-inspectors", "admins"])
    assert a.groups[0].id == [g for g in b.groups if g.name == "qa-inspectors"][0].id
    set_groups(session, "a", ["admins"])
    assert groups_of(get_user(session, "a")) == ["admins"]
    assert [u.username for u in list_users(session)] == ["a", "b"]


def test_duplicates_and_bad_input(session):
    add_user(session, "li", "pw", [])
    with pytest.raises(Conflict, match="already exists"):
        add_user(session, "li", "other", [])
    with pytest.raises(WorkflowError, match="empty"):
        add_user(session, "wang", "", [])
    with pytest.raises(NotFound):
        set_password(session, "ghost", "pw")


def test_set_password_and_inactive(session):
    user = add_user(session, "li", "old", [])
    set_password(session, "li", "new")
    assert check_password(session, "li", "old") is None
    assert check_password(session, "li", "new") is not None
    user.active = False
    assert check_password(session, "li", "new") is None


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    upgrade(db_url)
    runner = CliRunner()
    return lambda args, stdin=None: runner.invoke(main, args, input=stdin)


def test_cli_user_add_and_list(cli, db_url):
    result = cli(["user", "add", "zhang", "--group", "qa-inspectors", "--group", "admins",
                  "--full-name", "张伟", "--password-stdin"], "pa ss phrase 1\n")
    assert result.exit_code == 0, result.output
    assert "Created user zhang (groups: admins, qa-inspectors)" in result.output

    result = cli(["user", "add", "zhang", "--password-stdin"], "another phrase 2\n")
    assert result.exit_code == 1 and "already exists" in result.output

    result = cli(["user", "add", "li", "--password-stdin"], "\n")
    assert result.exit_code == 1 and "password is empty" in result.output

    result = cli(["user", "list"])
    assert result.exit_code == 0
    assert result.output.splitlines() == ["zhang\t张伟\tadmins,qa-inspectors"]

    result = cli(["user", "passwd", "zhang", "--password-stdin"], "new pass phrase\n")
    assert result.exit_code == 0, result.output

    from engine.store import make_engine, session_factory

    eng = make_engine(db_url)
    try:
        with session_factory(eng)() as s:
            assert check_password(s, "zhang", "pa ss phrase 1") is None
            assert check_password(s, "zhang", "new pass phrase") is not None  # spaces kept
    finally:
        eng.dispose()


def test_an_over_long_or_control_character_user_name_is_refused_with_the_fix(cli):
    # 297+ characters gave 500 on PostgreSQL (the column holds 100).
    for name in ("u" * 101, "tab\tname"):
        result = cli(["user", "add", name, "--password-stdin"], "a long passphrase 7\n")
        assert result.exit_code == 1 and "at most 100 characters" in result.output, result.output
