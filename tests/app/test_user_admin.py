"""User administration (engine/app/user_admin.py) on SQLite and PostgreSQL: who may manage
users, the self-lockout rules, every refusal at its field, the temporary password, and every
change on the organisation chart's audit chain (by the pages' administrator and by `wf user`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.app import access, admin, people, user_admin
from engine.app.database import Database
from engine.app.service import Workflow
from engine.app.services import Services
from engine.cli import main
from engine.errors import FormInvalid, NotFound, NotPermitted
from engine.store import org as org_store
from engine.store import users as user_store
from tests.helpers.service import config

GOOD = "blue kettle on the stove"


@pytest.fixture
def services(engine):
    cfg = config()
    found = Services(cfg, Database(engine), Workflow(cfg))
    with found.database.writing() as s:
        for name, groups in [("root", ["admins"]), ("root2", ["admins", "qa-supervisors"]),
                             ("clerk", ["qa-inspectors"]), ("aud", ["auditors", "admins"]), ("boss", [])]:
            user_store.add_user(s, name, "pw", groups, full_name=name.upper())
    return found


def reader(services, name):
    with services.database.reading() as s:
        return access.reader_named(services.config, s, name)


def events(services):
    """The chart's events after the fixture's users (recorded by the store as ``system``)."""
    with services.database.reading() as s:
        return [(e.type, e.actor, dict(e.data)) for e in org_store.events(s)][5:]


def fields(exc: FormInvalid) -> dict[str, str]:
    return {e["field"]: e["message"] for e in exc.errors}


def test_admin_adds_a_user_with_a_temporary_password_that_must_be_changed(services):
    root = reader(services, "root")
    added = user_admin.create(services, root, "zhang.san", GOOD, full_name="张三", email="zs@example.com",
                              groups=["qa-inspectors", "production"], manager="boss")
    assert added.groups == ("production", "qa-inspectors")
    person = people.active_person(services, "zhang.san")
    assert person is not None and person.must_change_password and people.password_expired(services, person)
    [(kind, actor, data)] = events(services)
    assert (kind, actor) == ("org:user_added", "root")
    assert data == {"user": "zhang.san", "full_name": "张三", "email": "zs@example.com",
                    "groups": ["production", "qa-inspectors"], "manager": "boss", "temporary_password": True}
    assert GOOD not in str(data)
    # the user's own change clears it
    people.change_password(services, "zhang.san", GOOD, "my own secret phrase 9")
    person = people.active_person(services, "zhang.san")
    assert person is not None and not person.must_change_password and not people.password_expired(services, person)
    assert admin.verify_audit(services).ok


def test_why_a_password_must_be_changed_is_one_code_each_adapter_words(services, engine):
    """The pages and the token endpoint word it their own way from one decision."""
    from datetime import UTC, datetime, timedelta

    from engine.config import load_config
    from tests.helpers.service import ROOT

    user_admin.create(services, reader(services, "root"), "zhang.san", GOOD)
    person = people.active_person(services, "zhang.san")
    assert person is not None and people.change_reason(services, person) == people.TEMPORARY
    aged = Services(load_config(ROOT / "config.yaml", overrides={"auth.password.max_age_days": 90}),
                    Database(engine), Workflow(services.config))
    old = people.Person("x", "", None, (), password_changed_at=datetime.now(UTC) - timedelta(days=91))
    assert people.change_reason(aged, old) == people.EXPIRED and people.change_reason(services, old) is None
    assert people.change_reason(aged, person) == people.TEMPORARY  # the administrator's first


def test_every_refusal_is_named_at_its_field_and_nothing_is_added(services):
    root = reader(services, "root")
    with pytest.raises(FormInvalid) as caught:
        user_admin.create(services, root, "clerk", "short", email="not-an-address", manager="ghost")
    found = fields(caught.value)
    assert "already exists" in found["username"]
    assert "at least 10 characters" in found["password"]
    assert "not an e-mail address" in found["email"]
    assert "There is no user 'ghost'" in found["manager"]
    with pytest.raises(FormInvalid) as caught:
        user_admin.create(services, root, "", GOOD)
    assert "must not be empty" in fields(caught.value)["username"]
    with pytest.raises(FormInvalid) as caught:
        user_admin.create(services, root, "x" * 101, GOOD)
    assert "at most 100 characters" in fields(caught.value)["username"]
    assert events(services) == []
    with services.database.reading() as s:
        assert user_store.get_user(s, "ghost") is None and user_store.get_user(s, "") is None


def test_only_administrators_manage_users_and_auditors_change_nothing(services):
    clerk, aud = reader(services, "clerk"), reader(services, "aud")
    with pytest.raises(NotPermitted, match="only administrators"):
        user_admin.search(services, clerk)
    with pytest.raises(NotPermitted):
        user_admin.get(services, clerk, "boss")
    for who in (clerk, aud):
        with pytest.raises(NotPermitted):
            user_admin.create(services, who, "new1", GOOD)
        with pytest.raises(NotPermitted):
            user_admin.edit(services, who, "boss", full_name="x")
        with pytest.raises(NotPermitted):
            user_admin.set_active(services, who, "boss", False)
        with pytest.raises(NotPermitted):
            user_admin.reset_password(services, who, "boss", GOOD)
        with pytest.raises(NotPermitted):
            user_admin.unlock(services, who, "boss")
        with pytest.raises(NotPermitted):
            user_admin.end_sessions(services, who, "boss")
    assert user_admin.search(services, aud).total == 5  # an auditor who is an administrator reads
    assert events(services) == []
    # one rule, which the pages, their link and the chart ask too
    assert user_admin.rights(clerk) == user_admin.rights(None) == user_admin.Rights(see=False, change=False)
    assert user_admin.rights(aud) == user_admin.Rights(see=True, change=False)
    assert user_admin.rights(reader(services, "root")) == user_admin.rights("cli:x") == user_admin.Rights(True, True)
    assert not hasattr(user_admin, "may_manage")
    with pytest.raises(NotPermitted, match="auditors read records and change nothing"):
        user_admin.require_change(aud)
    with pytest.raises(NotPermitted, match="only administrators"):
        user_admin.require_change(clerk)


def test_an_administrator_cannot_lock_themselves_out(services):
    root = reader(services, "root")
    with pytest.raises(NotPermitted, match="deactivate your own account.*another administrator"):
        user_admin.set_active(services, root, "root", False)
    with pytest.raises(FormInvalid) as caught:
        user_admin.edit(services, root, "root", groups=["qa-inspectors"])
    assert "your own administrator group (admins)" in fields(caught.value)["groups"]
    with pytest.raises(NotPermitted, match="Change password"):
        user_admin.reset_password(services, root, "root", GOOD)
    # adding groups to oneself is fine; another administrator may remove one's admin group
    assert user_admin.edit(services, root, "root", groups=["admins", "qa-inspectors"]) == {
        "groups": {"before": ["admins"], "after": ["admins", "qa-inspectors"]}}
    assert user_admin.set_active(services, root, "root2", False)
    assert user_admin.edit(services, reader(services, "root"), "root2", groups=["qa-supervisors"])
    assert people.active_person(services, "root") is not None


def test_each_change_is_recorded_in_the_same_transaction_and_verifies(services):
    root = reader(services, "root")
    assert user_admin.edit(services, root, "clerk", full_name="文员", email="c@example.com",
                           groups=["qa-inspectors", "production"], manager="boss") == {
        "full_name": {"before": "CLERK", "after": "文员"},
        "email": {"before": None, "after": "c@example.com"},
        "groups": {"before": ["qa-inspectors"], "after": ["production", "qa-inspectors"]},
        "manager": {"before": None, "after": "boss"}}
    assert user_admin.edit(services, root, "clerk", full_name="文员") == {}  # nothing changed: nothing recorded
    version = people.session_version(services, "clerk")
    assert user_admin.set_active(services, root, "clerk", False) is True
    assert user_admin.set_active(services, root, "clerk", False) is False
    assert user_admin.set_active(services, root, "clerk", True) is True
    user_admin.reset_password(services, root, "clerk", GOOD)
    assert people.session_version(services, "clerk") > version  # the reset ended their sessions
    people.door(services, "web").fail("clerk", "10.0.0.9")
    assert user_admin.get(services, root, "clerk").failed_sign_ins == 1
    assert user_admin.unlock(services, root, "clerk") == 1
    assert user_admin.unlock(services, root, "clerk") == 0
    user_admin.end_sessions(services, root, "clerk")
    found = events(services)
    assert [k for k, _a, _d in found] == ["org:user_edited", "org:user_deactivated", "org:user_activated",
                                          "org:password_reset", "org:user_unlocked", "org:sessions_ended"]
    assert {a for _k, a, _d in found} == {"root"}
    assert found[3][2] == {"user": "clerk", "temporary": True}
    assert GOOD not in str(found)
    detail = user_admin.get(services, root, "clerk")
    assert detail.must_change_password and detail.failed_sign_ins == 0 and detail.manager_name == "BOSS"
    assert admin.verify_audit(services).ok

    # a change that fails is not recorded, and changes nothing
    with pytest.raises(FormInvalid):
        user_admin.edit(services, root, "clerk", full_name="x", manager="ghost")
    assert len(events(services)) == 6 and user_admin.get(services, root, "clerk").full_name == "文员"


def test_manager_loops_and_self_manager_are_refused_at_the_manager_field(services):
    root = reader(services, "root")
    user_admin.edit(services, root, "boss", manager="clerk")
    with pytest.raises(FormInvalid) as caught:
        user_admin.edit(services, root, "clerk", manager="boss")
    assert "go round in a loop" in fields(caught.value)["manager"]
    with pytest.raises(FormInvalid) as caught:
        user_admin.edit(services, root, "clerk", manager="clerk")
    assert "own manager" in fields(caught.value)["manager"]
    with pytest.raises(NotFound) as caught:
        user_admin.edit(services, root, "ghost", full_name="x")
    assert "wf user" not in caught.value.message and "list of users" in caught.value.message
    with pytest.raises(NotFound, match="see 'wf user list'"):  # the command line keeps its own hint
        admin.unlock(services, "ghost")


def test_a_manager_change_is_one_use_case_whoever_makes_it(services):
    """The edit page, `wf user manager` and `wf org user` change a manager through the same
    check and write, and record the same event: each field before and after."""
    from engine.app import org

    root = reader(services, "root")
    assert user_admin.edit(services, root, "clerk", manager="boss") == {"manager": {"before": None, "after": "boss"}}
    admin.set_manager(services, "clerk", "root2")
    org.set_person(services, "cli:test", "clerk", manager="")
    org.set_person(services, "cli:test", "clerk", manager="")  # nothing changed: nothing recorded
    assert [(k, d) for k, _a, d in events(services)] == [
        ("org:user_edited", {"user": "clerk", "changes": {"manager": {"before": None, "after": "boss"}}}),
        ("org:user_edited", {"user": "clerk", "changes": {"manager": {"before": "boss", "after": "root2"}}}),
        ("org:user_edited", {"user": "clerk", "changes": {"manager": {"before": "root2", "after": None}}})]
    # the same refusals on every path: a loop, oneself
    user_admin.edit(services, root, "boss", manager="clerk")
    with pytest.raises(org.OrgInvalid, match="go round in a loop"):
        admin.set_manager(services, "clerk", "boss")
    with pytest.raises(FormInvalid, match="go round in a loop"):
        user_admin.edit(services, root, "clerk", manager="boss")
    assert user_admin.KEEP is org.KEEP
    assert not hasattr(user_store, "set_manager")  # one write path: the chart's
    assert admin.verify_audit(services).ok


def test_failed_sign_ins_are_those_the_lock_out_still_counts(services, engine):
    """Failures past the lock-out window no longer lock anyone out (the next one starts a
    new series): the edit page does not count them, nor offers to forget them."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from engine.store import sign_in
    from engine.store.tables import SignInFailure

    root = reader(services, "root")
    web = people.door(services, "web")
    for _n in range(3):
        web.fail("Clerk ", "10.0.0.7")  # as typed: the doors fold the name
    people.door(services, "api").fail("clerk", "10.0.0.8")
    assert user_admin.get(services, root, "clerk").failed_sign_ins == 4
    with services.database.writing() as s:  # the api failure is past the window now
        s.execute(update(SignInFailure).where(SignInFailure.key.like("api:%"))
                  .values(last_at=datetime.now(UTC) - web.window - timedelta(seconds=1)))
    assert user_admin.get(services, root, "clerk").failed_sign_ins == 3
    assert user_admin.unlock(services, root, "clerk") == 3
    with services.database.writing() as s:
        assert s.query(SignInFailure).filter(SignInFailure.key.like("%clerk%")).count() == 0  # the stale one too
    web.fail("boss", "10.0.0.7")
    with services.database.writing() as s:
        s.execute(update(SignInFailure).values(last_at=datetime.now(UTC) - timedelta(days=1)))
    assert user_admin.get(services, root, "boss").failed_sign_ins == 0
    assert user_admin.unlock(services, root, "boss") == 0  # forgotten quietly: nothing to record
    assert [d for k, _a, d in events(services) if k == "org:user_unlocked"] == [
        {"user": "clerk", "failed_sign_ins": 3}]
    assert sign_in.fold_name("  Zhang.San ") == "zhang.san" and len(sign_in.fold_name("x" * 300)) == 100
    assert not hasattr(user_store, "failed_sign_ins") and not hasattr(people, "unlock")


def test_search_pages_and_reads_few_statements_among_many_users(services, engine):
    from sqlalchemy import event

    with services.database.writing() as s:
        hashed = user_store.hash_password("pw")
        for i in range(120):
            user_store.add_user(s, f"u{i:03d}", "pw", ["qa-inspectors", "production"], full_name=f"张{i}",
                                password_hash=hashed)
    root = reader(services, "root")
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    reads = services.database.engine
    event.listen(reads, "before_cursor_execute", seen)
    try:
        first = user_admin.search(services, root, "")
    finally:
        event.remove(reads, "before_cursor_execute", seen)
    assert first.total == 125 and len(first.users) == 50 and first.pages == 3
    assert 3 <= len(statements) <= 4, statements  # count, page, the page's groups (managers' names)
    by_name = {u.username: u for u in first.users}
    assert by_name["u000"].groups == ("production", "qa-inspectors") and by_name["aud"].groups == ("admins", "auditors")
    last = user_admin.search(services, root, "", page=9)  # past the end: the last page
    assert last.page == 3 and len(last.users) == 25
    found = user_admin.search(services, root, "张11")
    assert [u.username for u in found.users] == ["u011", *[f"u{i}" for i in range(110, 120)]]
    assert user_admin.search(services, root, "ROOT").total == 2  # any case, user name or full name
    assert user_admin.search(services, root, "%").total == 0  # LIKE characters are literal


def test_group_choices_name_the_roles_each_group_gives(services):
    root = reader(services, "root")
    with services.database.writing() as s:
        services.workflow.load_procedures(s)
    choices = {c.name: c for c in user_admin.group_choices(services, root, "zh", chosen=["typed-group"])}
    assert {"qa-inspectors", "admins", "auditors", "production", "typed-group"} <= set(choices)
    assert choices["admins"].admin and choices["auditors"].auditor and not choices["qa-inspectors"].admin
    assert user_admin.Grant("售后检验", "售后检验人员") in choices["qa-inspectors"].grants
    english = {c.name: c for c in user_admin.group_choices(services, root, "en")}
    assert any(g.procedure == "After-sales inspection" for g in english["qa-inspectors"].grants), \
        english["qa-inspectors"].grants


def test_the_special_groups_are_read_from_config_in_one_place(services, engine):
    """Administrators', auditors' and clearance groups: access.special_groups, with its
    defaults, is what readers, the group checkboxes and the self-grant rules all use."""
    from engine.config import load_config
    from tests.helpers.service import ROOT

    bare = load_config(ROOT / "config.yaml", overrides={"audit": {}, "roles.admin": ["it-admins"]})
    found = access.special_groups(bare)
    assert found == access.SpecialGroups(admins=frozenset({"it-admins"}), auditors=frozenset({"auditors"}),
                                         cleared=frozenset({"data-officers"}))
    other = Services(bare, Database(engine), Workflow(services.config))
    with other.database.writing() as s:
        user_store.add_user(s, "it", "pw", ["it-admins"])
    it = access.reader_of(bare, "it", ["it-admins"])
    assert it.admin and not access.reader_of(bare, "aud", ["auditors"]).admin
    choices = {c.name: c for c in user_admin.group_choices(other, it)}
    assert choices["it-admins"].admin and choices["auditors"].auditor and choices["data-officers"].cleared
    with pytest.raises(FormInvalid) as caught:
        user_admin.edit(other, it, "it", groups=["qa-inspectors"])
    assert "your own administrator group (it-admins)" in fields(caught.value)["groups"]
    with pytest.raises(FormInvalid) as caught:
        user_admin.edit(other, it, "it", groups=["it-admins", "auditors"])
    assert "auditors" in fields(caught.value)["groups"]


def test_the_command_line_is_recorded_under_its_operator(services, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    runner = CliRunner()

    def wf(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin)

    added = wf("user", "add", "li", "--group", "b", "--full-name", "李", "--password-stdin", stdin=GOOD + "\n")
    assert added.exit_code == 0 and added.output == "Created user li (groups: b).\n"
    assert wf("user", "passwd", "li", "--password-stdin", stdin="another good phrase 2\n").exit_code == 0
    assert wf("user", "deactivate", "li").output == "li deactivated; their sessions and tokens have ended.\n"
    assert wf("user", "activate", "li").output == "li activated.\n"
    assert wf("user", "tokens", "li", "--revoke").exit_code == 0
    assert wf("user", "unlock", "li").output == "li unlocked (0 counts of failed sign-ins cleared).\n"
    refused = wf("user", "add", "li2", "--manager", "ghost", "--password-stdin", stdin=GOOD + "\n")
    assert refused.exit_code == 1 and "There is no user 'ghost'" in refused.output
    found = events(services)
    assert [k for k, _a, _d in found] == ["org:user_added", "org:password_reset", "org:user_deactivated",
                                          "org:user_activated", "org:sessions_ended"]
    assert {a for _k, a, _d in found} == {org_command_line()}
    assert found[1][2] == {"user": "li", "temporary": False}
    person = people.active_person(services, "li")
    assert person is not None and not person.must_change_password  # the command line's passwords last
    assert "li\t李\tb" in wf("user", "list").output
    assert wf("audit", "verify").exit_code == 0


def org_command_line() -> str:
    from engine.app import org

    return org.command_line()


def test_a_users_department_is_shown_by_its_name(services):
    from engine.app import org

    root = reader(services, "root")
    org.save_department(services, root, "quality", name="质量部", create=True)
    org.set_person(services, root, "clerk", department="quality")
    detail = user_admin.get(services, root, "clerk")
    assert (detail.department, detail.department_name) == ("quality", "质量部")
    assert user_admin.get(services, root, "boss").department_name == ""


@pytest.mark.parametrize("name", ["Root", "ROOT", "ｒｏｏｔ", "root\u200b", "r\u202eoot", "root\x7f", "ro\u2028ot"])
def test_a_user_name_that_reads_as_another_or_hides_characters_is_refused(services, name):
    """"Root" beside "root" (the sign-in throttle already counts them as one), a full-width
    ｒｏｏｔ, or a name with an invisible or direction-changing character: each is another
    account that a list, a task or a signature shows as the same person."""
    root = reader(services, "root")
    with pytest.raises(FormInvalid) as caught:
        user_admin.create(services, root, name, GOOD, groups=["qa-inspectors"])
    assert "username" in fields(caught.value)
    assert events(services) == []


def test_hidden_characters_in_a_full_name_are_refused(services):
    root = reader(services, "root")
    for full in ("张三\u202e", "张\u200b三", "张三\x9b", "张三\x7f"):
        with pytest.raises(FormInvalid) as caught:
            user_admin.edit(services, root, "clerk", full_name=full)
        assert list(fields(caught.value)) == ["full_name"]
    assert events(services) == []


def test_an_administrator_cannot_make_themselves_an_auditor_or_cleared(services):
    """An administrator who ticked the auditors' group for themselves could change nothing
    any more, not even to untick it (auditors change nothing): a self-lockout by a second
    path. The clearance group would show them every masked value: not theirs to grant."""
    root = reader(services, "root")
    for extra in ("auditors", "data-officers"):
        with pytest.raises(FormInvalid) as caught:
            user_admin.edit(services, root, "root", groups=["admins", extra])
        assert extra in fields(caught.value)["groups"]
    assert events(services) == []


def test_clearance_is_given_on_the_server_only(services):
    """The stand-in: an administrator adds an account with the clearance group (or gives it
    to one, or resets a cleared user's password), knows its password, signs in as it and
    reads every masked value. In the browser and the API none of the three is allowed; the
    command line (whose operator holds the database's keys anyway) gives it, recorded.
    Taking clearance away, and keeping what one has, stay allowed."""
    root2 = reader(services, "root2")
    with pytest.raises(FormInvalid) as caught:
        user_admin.create(services, root2, "standin", GOOD, groups=["data-officers"])
    assert "wf user groups NAME --add data-officers" in fields(caught.value)["groups"]
    with pytest.raises(FormInvalid) as caught:
        user_admin.edit(services, root2, "clerk", groups=["qa-inspectors", "data-officers"])
    assert "given on the server" in fields(caught.value)["groups"]
    assert events(services) == [] and not reader(services, "clerk").cleared
    # the command line gives it, recorded under its operator
    assert user_admin.edit(services, "cli:ops", "clerk", joining=["data-officers"])
    assert reader(services, "clerk").cleared
    # a cleared user's password is the server's to reset too
    with pytest.raises(NotPermitted) as refused:
        user_admin.reset_password(services, root2, "clerk", "another good phrase 7")
    assert "wf user passwd clerk" in refused.value.message
    user_admin.reset_password(services, "cli:ops", "clerk", "another good phrase 7", temporary=False)
    # keeping it while changing something else is no grant; taking it away is allowed
    assert user_admin.edit(services, root2, "clerk", full_name="文员",
                           groups=["qa-inspectors", "data-officers", "production"])
    assert user_admin.edit(services, root2, "clerk", groups=["qa-inspectors"])
    assert not reader(services, "clerk").cleared
    assert admin.verify_audit(services).ok


def test_thousands_of_groups_are_refused(services):
    """5,000 groups ticked in a forged post made 5,000 group rows and every user page a
    megabyte of checkboxes."""
    root = reader(services, "root")
    many = [f"g{i}" for i in range(user_admin.MAX_GROUPS + 1)]
    with pytest.raises(FormInvalid) as caught:
        user_admin.create(services, root, "many", GOOD, groups=many)
    assert str(user_admin.MAX_GROUPS) in fields(caught.value)["groups"]
    with pytest.raises(FormInvalid) as caught:
        user_admin.edit(services, root, "clerk", groups=many)
    assert str(user_admin.MAX_GROUPS) in fields(caught.value)["groups"]
    with services.database.reading() as s:
        assert "g1" not in user_store.group_names(s)


def test_groups_joined_and_left_at_once_all_count(services):
    """``wf user groups NAME --add G`` from two terminals at once: each change is applied to
    the groups the user has when it writes, so neither is lost (it read the groups, then
    wrote a whole new list), and the trail agrees with the table."""
    from concurrent.futures import ThreadPoolExecutor

    wanted = [f"team-{i}" for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda g: user_admin.edit(services, "cli:ops", "clerk", joining=[g]), wanted))
    assert user_admin.get(services, "cli:ops", "clerk").groups == tuple(sorted(["qa-inspectors", *wanted]))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda g: user_admin.edit(services, "cli:ops", "clerk", leaving=[g]), wanted[:4]))
    assert user_admin.get(services, "cli:ops", "clerk").groups == tuple(sorted(["qa-inspectors", *wanted[4:]]))
    assert admin.verify_audit(services).ok
    with pytest.raises(ValueError):
        user_admin.edit(services, "cli:ops", "clerk", groups=["a"], joining=["b"])


def test_group_rows_nobody_is_in_are_not_offered(services):
    """Thousands of group rows a forged post made before groups were bounded (or a group
    whose last member left) made every user page a megabyte of checkboxes: only groups of
    the config and groups someone is in are offered."""
    from engine.store.tables import Group

    with services.database.writing() as s:
        s.execute(Group.__table__.insert(), [{"name": f"junk-{i}"} for i in range(300)])
    user_admin.edit(services, "cli:ops", "clerk", joining=["night-shift"])
    names = {c.name for c in user_admin.group_choices(services, "cli:ops")}
    assert "night-shift" in names and "qa-inspectors" in names and "data-officers" in names
    assert not any(n.startswith("junk-") for n in names)
    user_admin.edit(services, "cli:ops", "clerk", leaving=["night-shift"])
    assert "night-shift" not in {c.name for c in user_admin.group_choices(services, "cli:ops")}


def test_the_command_line_gives_no_clearance_to_a_user_on_an_administrators_temporary_password(services):
    """The administrator adds a user in the browser (a temporary password they know), then
    asks the operator for the user's clearance: the command line refuses until the user's
    password is one the administrator does not know."""
    user_admin.create(services, reader(services, "root2"), "newbie", GOOD, groups=["qa-inspectors"])
    with pytest.raises(FormInvalid) as refused:
        user_admin.edit(services, "cli:ops", "newbie", joining=["data-officers"])
    assert "wf user passwd newbie" in fields(refused.value)["groups"]
    user_admin.reset_password(services, "cli:ops", "newbie", "a phrase of their own 5", temporary=False)
    assert user_admin.edit(services, "cli:ops", "newbie", joining=["data-officers"])


@pytest.mark.parametrize("name", ["system", "System", "cli", "cli:ops"])
def test_the_names_the_records_give_the_application_are_not_user_names(services, name):
    with pytest.raises(FormInvalid) as refused:
        user_admin.create(services, "cli:ops", name, GOOD)
    assert "names the application itself" in fields(refused.value)["username"]
