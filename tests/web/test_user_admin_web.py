"""The administrators' user pages (/admin/users) through the web, on SQLite and PostgreSQL:
an administrator adds a user who then signs in and must change the temporary password;
non-administrators and auditors are refused; CSRF; every refusal beside its field, in
Chinese and in English, with what was typed kept; the actions and their record on /org."""

from __future__ import annotations

import html
import re

import pytest

from engine.app import people
from engine.store import org as org_store
from engine.store import users as user_store
from tests.helpers.service import web_app
from tests.web.test_web_ui import Browser

GOOD = "blue kettle on the stove"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "root", "pw-root", ["admins"], full_name="管理员")
        user_store.add_user(s, "clerk", "pw-clerk", ["qa-inspectors"], full_name="文员")
        user_store.add_user(s, "aud", "pw-aud", ["auditors", "admins"], full_name="审计员")
        user_store.add_user(s, "boss", "pw-boss", [], full_name="老板")
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user, password=None):
    b = Browser(app)
    b.login(user, password)
    return b


def errors_at(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'data-error-for="([^"]+)" role="alert">([^<]+)<', page)}


def value_of(page: str, name: str) -> str | None:
    m = re.search(rf'name="{name}" [^>]*value="([^"]*)"', page)
    return m.group(1) if m else None


def org_events(app):
    """The chart's events after the fixture's users (recorded by the store as ``system``)."""
    with app.extensions["services"].database.reading() as s:
        return [(e.type, e.actor, dict(e.data)) for e in org_store.events(s) if e.actor != "system"]


def test_admin_adds_a_user_who_must_change_the_password_at_first_sign_in(app):
    root = login(app, "root")
    page = root.get("/admin/users").text
    assert 'id="nav-users"' in page and 'id="add-user"' in page and 'data-user="clerk"' in page
    form = root.get("/admin/add-user").text
    assert 'data-group="qa-inspectors"' in form and "售后检验：售后检验人员" in form
    r = root.post("/admin/add-user", {"username": "zhang.san", "full_name": "张三", "email": "zs@example.com",
                                      "manager": "boss", "groups": ["qa-inspectors", "production"],
                                      "password": GOOD})
    assert r.status_code == 302 and r.location.endswith("/admin/users/zhang.san"), r.text
    shown = root.get(r.location).text
    assert "用户 zhang.san 已添加" in shown and 'id="temporary-password"' in shown
    assert 'value="qa-inspectors" checked' in shown and 'value="boss"' in shown

    token = app.test_client().post("/api/v1/auth/token", json={"username": "zhang.san", "password": GOOD})
    assert token.status_code == 403 and "temporary" in token.get_json()["message"]  # nor a token before the change
    newcomer = Browser(app)
    newcomer.get("/login")
    r = newcomer.post("/login", {"username": "zhang.san", "password": GOOD})
    assert r.status_code == 302
    r = newcomer.get("/")
    assert r.status_code == 302 and r.location.endswith("/password")  # must change it first
    assert "您的密码由管理员设置，为临时密码" in newcomer.get("/password").text
    assert newcomer.get("/instances").location.endswith("/password")
    newcomer.get("/password")
    r = newcomer.post("/password", {"current_password": GOOD, "new_password": "my own long phrase 3",
                                    "confirm_password": "my own long phrase 3"})
    assert r.status_code == 302
    assert newcomer.get("/").status_code == 200
    person = people.active_person(app.extensions["services"], "zhang.san")
    assert person is not None and not person.must_change_password

    history = root.get("/org").text
    assert "添加了用户 zhang.san" in history and 'data-change="user_added"' in history
    assert GOOD not in history


def test_non_admins_get_403_and_no_link(app):
    clerk = login(app, "clerk")
    assert 'id="nav-users"' not in clerk.get("/").text
    for url in ("/admin/users", "/admin/add-user", "/admin/users/boss"):
        assert clerk.get(url).status_code == 403
    r = clerk.post("/admin/add-user", {"username": "sneaky", "password": GOOD, "groups": ["admins"]})
    assert r.status_code == 403
    r = clerk.post("/admin/users/clerk", {"action": "save", "groups": ["admins"], "full_name": "x"})
    assert r.status_code == 403
    aud = login(app, "aud")  # an auditor who is also an administrator reads, changes nothing
    assert aud.get("/admin/users").status_code == 200
    assert 'id="add-user"' not in aud.get("/admin/users").text and 'id="nav-users"' in aud.get("/").text
    assert 'id="user-form"' not in aud.get("/admin/users/boss").text
    add_page = aud.get("/admin/add-user")  # not even the form they could not send
    assert add_page.status_code == 403 and 'id="user-form"' not in add_page.text
    assert aud.post("/admin/users/boss", {"action": "deactivate", "confirm": "yes"}).status_code == 403
    assert aud.post("/admin/add-user", {"username": "sneaky2", "password": GOOD}).status_code == 403
    with app.extensions["services"].database.reading() as s:
        assert user_store.get_user(s, "sneaky") is None and user_store.get_user(s, "sneaky2") is None
        assert user_store.groups_of(user_store.get_user(s, "clerk")) == ["qa-inspectors"]
        assert user_store.get_user(s, "boss").active
    assert org_events(app) == []


def test_a_forged_post_without_the_csrf_token_is_refused(app):
    root = login(app, "root")
    r = root.c.post("/admin/add-user", data={"username": "forged", "password": GOOD})
    assert r.status_code == 400
    r = root.c.post("/admin/users/boss", data={"action": "deactivate", "confirm": "yes", "csrf_token": "wrong"})
    assert r.status_code == 400
    with app.extensions["services"].database.reading() as s:
        assert user_store.get_user(s, "forged") is None and user_store.get_user(s, "boss").active
    # and an action needs its confirmation
    assert root.post("/admin/users/boss", {"action": "deactivate"}).status_code == 400


def test_refusals_stand_beside_their_fields_in_chinese_and_english_and_keep_what_was_typed(app):
    root = login(app, "root")
    root.get("/admin/add-user")
    bad = {"username": "clerk", "full_name": "重名的人", "email": "no-at-sign", "manager": "ghost",
           "groups": ["production"], "password": "short"}
    r = root.post("/admin/add-user", bad)
    assert r.status_code == 422
    found = errors_at(r.text)
    assert "已存在" in found["username"] and "不是电子邮件地址" in found["email"]
    assert "没有用户“ghost”" in found["manager"] and "10" in found["password"]
    assert value_of(r.text, "full_name") == "重名的人" and value_of(r.text, "email") == "no-at-sign"
    assert value_of(r.text, "manager") == "ghost" and 'value="production" checked' in r.text

    root.post("/locale/en", {"next": "/admin/add-user"})
    r = root.post("/admin/add-user", bad)
    found = errors_at(r.text)
    assert "already exists" in found["username"] and "is not an e-mail address" in found["email"]
    assert "There is no user 'ghost'" in found["manager"] and "at least 10 characters" in found["password"]

    # self-lockout, beside the groups and the action, in English now
    r = root.post("/admin/users/root", {"action": "save", "full_name": "管理员", "groups": ["qa-inspectors"]})
    assert r.status_code == 422
    assert "your own administrator group" in errors_at(r.text)["groups"]
    assert 'value="qa-inspectors" checked' in r.text and 'value="admins" checked' not in r.text
    r = root.post("/admin/users/root", {"action": "deactivate", "confirm": "yes"})
    assert r.status_code == 403 and "deactivate your own account" in errors_at(r.text)["deactivate"]
    root.post("/locale/zh", {"next": "/"})
    r = root.post("/admin/users/root", {"action": "deactivate", "confirm": "yes"})
    assert "不能停用您自己的账号" in errors_at(r.text)["deactivate"]
    assert 'id="no-self-deactivate"' in root.get("/admin/users/root").text
    assert org_events(app) == []


def test_the_actions_work_and_are_recorded(app):
    root = login(app, "root")
    clerk = login(app, "clerk")
    root.get("/admin/users/clerk")
    r = root.post("/admin/users/clerk", {"action": "save", "full_name": "文员甲", "email": "c@example.com",
                                         "manager": "boss", "groups": ["qa-inspectors", "production"]})
    assert r.status_code == 302
    assert "已保存" in root.get("/admin/users/clerk").text
    r = root.post("/admin/users/clerk", {"action": "reset", "confirm": "yes", "password": "x"})
    assert r.status_code == 422 and "10" in errors_at(r.text)["password"] and 'id="reset-box" open' in r.text
    assert root.post("/admin/users/clerk", {"action": "reset", "confirm": "yes", "password": GOOD}).status_code == 302
    assert clerk.get("/").status_code == 302  # the reset ended the clerk's session
    clerk = login(app, "clerk", GOOD)
    assert clerk.get("/").location.endswith("/password")
    assert root.post("/admin/users/clerk", {"action": "signout", "confirm": "yes"}).status_code == 302
    assert clerk.get("/").status_code == 302
    assert root.post("/admin/users/clerk", {"action": "deactivate", "confirm": "yes"}).status_code == 302
    page = root.get("/admin/users/clerk").text
    assert 'id="inactive"' in page and 'id="activate-box"' in page
    b = Browser(app)
    b.get("/login")
    assert b.post("/login", {"username": "clerk", "password": GOOD}).status_code == 401
    assert root.post("/admin/users/clerk", {"action": "activate", "confirm": "yes"}).status_code == 302
    people.door(app.extensions["services"], "web").fail("clerk", "10.1.1.1")
    assert 'id="failed-sign-ins">2<' in root.get("/admin/users/clerk").text  # and the one while inactive
    assert root.post("/admin/users/clerk", {"action": "unlock", "confirm": "yes"}).status_code == 302
    kinds = [k for k, _a, _d in org_events(app)]
    assert kinds == ["org:user_edited", "org:password_reset", "org:sessions_ended", "org:user_deactivated",
                     "org:user_activated", "org:user_unlocked"]
    assert 'id="failed-sign-ins">0<' in root.get("/admin/users/clerk").text
    history = root.get("/org").text
    for words in ("修改了用户 clerk", "姓名 文员 → 文员甲", "重置了 clerk 的密码", "已将 clerk 在所有设备上登出",
                  "停用了用户 clerk", "启用了用户 clerk", "解锁了 clerk"):
        assert words in history, words
    assert GOOD not in history
    root.post("/locale/en", {"next": "/org"})
    history = root.get("/org").text
    assert "full name 文员 → 文员甲" in history and "changed user clerk: e-mail (none) → c@example.com" in history and "deactivated user clerk" in history, re.search(r"id=\"org-changes\".*?</ul>", history, re.S).group(0)


def test_an_unknown_user_gets_a_404_that_says_what_to_do_on_the_page(app):
    root = login(app, "root")
    r = root.get("/admin/users/ghost")
    assert r.status_code == 404 and "wf user" not in r.text  # no command line on a page
    assert "没有用户“ghost”" in html.unescape(r.text) and 'href="/admin/users"' in r.text
    root.post("/locale/en", {"next": "/"})
    assert "There is no user 'ghost'" in html.unescape(root.get("/admin/users/ghost").text)


def test_the_list_searches_and_pages(app):
    with app.extensions["services"].database.writing() as s:
        hashed = user_store.hash_password("pw")
        for i in range(60):
            user_store.add_user(s, f"w{i:02d}", "pw", ["warehouse"], full_name=f"仓管{i}", password_hash=hashed)
    root = login(app, "root")
    page = root.get("/admin/users").text
    assert "共 64 名用户" in page and 'id="next-page"' in page and page.count('data-user="') == 50
    second = root.get("/admin/users?page=2").text
    assert second.count('data-user="') == 14
    found = root.get("/admin/users?q=仓管1").text
    assert found.count('data-user="') == 11 and "11 名用户" in found
    for bad in ("abc", "0", "-1", "99999999"):  # as every paged page answers (audit.page_arg)
        r = root.get(f"/admin/users?page={bad}")
        assert r.status_code == 400 and "page" in r.text, bad
    assert root.get("/admin/users?page=7").status_code == 200  # past the end: the last page


def test_every_page_module_takes_the_signed_in_reader_from_oversight():
    """One ``signed_in_reader`` (web.oversight), not a copy of it in each module."""
    import ast
    from pathlib import Path

    import web.html

    for path in Path(web.html.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_reader"], path


def test_clearance_is_not_offered_in_the_browser_and_a_forged_grant_is_refused_at_its_field(app):
    root = login(app, "root")
    page = root.get("/admin/users/clerk").text
    assert re.search(r'<input type="checkbox" name="groups" value="data-officers" disabled>', page), page
    assert "只能在服务器上授予： <code>wf user groups NAME --add data-officers</code>" in html.unescape(page)
    r = root.post("/admin/users/clerk", {"action": "save", "full_name": "文员", "groups": ["qa-inspectors", "data-officers"]})
    assert r.status_code == 422
    assert errors_at(r.text)["groups"].startswith("查看遮盖数据的权限（data-officers）只能在服务器上授予"), errors_at(r.text)
    assert org_events(app) == []


@pytest.mark.parametrize("address", ["a,b@example.com", "a@example.com, boss@example.com",
                                     "a;b@example.com", "<a@example.com>", "张三 <a@example.com>",
                                     'a"b@example.com'])
def test_an_address_that_names_more_than_one_mailbox_is_refused(app, address):
    """``a,b@example.com`` passed the check, and a mail library reads a comma (or ; or <>) as a
    list of recipients: every notice of that user would go to two mailboxes, one of them not
    theirs. One mailbox per user: such an address is refused at its field."""
    root = login(app, "root")
    root.get("/admin/add-user")
    r = root.post("/admin/add-user", {"username": "mailer", "full_name": "收件人", "email": address,
                                      "groups": ["production"], "password": "long enough password 2026"})
    assert r.status_code == 422 and "不是电子邮件地址" in errors_at(r.text)["email"], r.text[:300]


def test_ordinary_addresses_are_still_taken(app):
    root = login(app, "root")
    root.get("/admin/add-user")
    for n, address in enumerate(["li.si+qa@example.com", "王五@例子.中国", "o'brien@example.co.uk"]):
        r = root.post("/admin/add-user", {"username": f"ok{n}", "full_name": "收件人", "email": address,
                                          "groups": ["production"], "password": "long enough password 2026"})
        assert r.status_code == 302, errors_at(r.text)
