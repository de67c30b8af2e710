"""The organisation chart's page and API (issue 17): everybody signed in reads it, only
administrators import; a bad file is refused whole with every bad line named."""

from __future__ import annotations

import io

import pytest

from engine.app import org
from engine.store import users as user_store
from tests.helpers.service import web_app
from tests.web.test_web_ui import Browser

CHART = ("\ufeffkind,id,name,parent,head,department,manager\r\n"
         "department,quality,质量部,,qhead,,\r\n"
         "user,clerk,,,,quality,\r\n").encode("utf-8")


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "clerk", "pw-clerk", ["qa-inspectors"], full_name="文员")
        user_store.add_user(s, "qhead", "pw-qhead", ["qa-supervisors"], full_name="质量部长")
        user_store.add_user(s, "root", "pw-root", ["admins"], full_name="管理员")
        user_store.add_user(s, "aud", "pw-aud", ["auditors", "admins"], full_name="审计员")
    yield app
    app.extensions["services"].database.engine.dispose()


def login(app, user):
    b = Browser(app)
    b.login(user)
    return b


def upload(b, data, name="org.csv"):
    b.get("/org")
    return b.post("/org/import", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data",
                  follow_redirects=True)


def token(app, user):
    r = app.test_client().post("/api/v1/auth/token", json={"username": user, "password": f"pw-{user}"})
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def test_admin_imports_on_the_page_and_everybody_reads(app):
    root = login(app, "root")
    r = upload(root, CHART)
    assert "已导入 1 个部门和 1 名用户" in r.text
    clerk = login(app, "clerk")
    page = clerk.get("/org").text
    assert 'data-dept="quality"' in page and 'data-head="qhead"' in page and "质量部长" in page
    assert 'data-user="clerk"' in page and 'data-manager="qhead"' in page
    assert 'id="org-import"' not in page  # no import form for a non-administrator
    assert 'id="nav-org"' in page
    exported = clerk.get("/org/export.csv")
    assert exported.mimetype == "text/csv" and exported.data == org.export_csv(app.extensions["services"]).encode()


def test_bad_file_on_the_page_names_every_line_and_imports_nothing(app):
    root = login(app, "root")
    upload(root, CHART)
    r = upload(root, "kind,id,name,head,department\ndepartment,q2,二部,ghost,\nuser,nobody,,,q2\n".encode(), "bad.csv")
    assert "bad.csv:2:4:" in r.text and "bad.csv:3:2:" in r.text and "未导入任何内容" in r.text
    assert 'data-dept="quality"' in r.text and 'data-dept="q2"' not in r.text


@pytest.mark.parametrize("user", ["clerk", "aud"])
def test_non_admins_cannot_import_through_page_or_api(app, user):
    root = login(app, "root")
    upload(root, CHART)
    before = org.export_csv(app.extensions["services"])
    b = login(app, user)
    # a hostile user posts the form directly (with a valid CSRF token of their own)
    hostile = "kind,id,name,head\ndepartment,quality,质量部,clerk\n".encode()
    r = upload(b, hostile)
    assert r.status_code == 403
    r = app.test_client().post("/api/v1/org/import", json={"csv": hostile.decode()}, headers=token(app, user))
    assert r.status_code == 403 and r.get_json()["code"] == "forbidden"
    assert org.export_csv(app.extensions["services"]) == before  # the head did not change


def test_api_reads_and_imports(app):
    headers = token(app, "root")
    client = app.test_client()
    r = client.post("/api/v1/org/import", json={"csv": CHART.decode("utf-8")}, headers=headers)
    assert r.status_code == 200 and r.get_json()["departments"] == 1
    r = client.get("/api/v1/org", headers=token(app, "clerk"))
    body = r.get_json()
    assert body["departments"][0]["head"] == "qhead"
    assert body["departments"][0]["members"][0]["reports_to"] == "qhead"
    bad = client.post("/api/v1/org/import", json={"csv": "kind,id,name\nuser,ghost,\n", "file": "x.csv"},
                      headers=headers)
    assert bad.status_code == 422
    err = bad.get_json()
    assert err["code"] == "org_invalid" and err["errors"][0]["field"] == "x.csv:2:2"
    assert client.get("/api/v1/org").status_code == 401


def test_csrf_is_required_for_the_import(app):
    root = login(app, "root")
    root.get("/org")
    r = root.c.post("/org/import", data={"file": (io.BytesIO(CHART), "org.csv")},
                    content_type="multipart/form-data")
    assert r.status_code in (400, 403)
    assert org.export_csv(app.extensions["services"]).count("\n") == 1  # header only: nothing imported


def test_the_history_names_who_made_each_change_as_the_reader_does(app):
    """The history says who made a change by name: a person's full name, 系统 for what the
    application recorded itself (users added at set-up), 命令行 (operator) for ``wf``, and
    the trail's starting point (migration 0022's ``users_recorded``) in words."""
    from datetime import UTC, datetime

    from engine.store import org as org_store

    with app.extensions["services"].database.writing() as s:
        org_store.changed(s, "system", "users_recorded", {"reason": "baseline", "users": {
            "clerk": {"groups": ["qa-inspectors"], "active": True}}}, datetime.now(UTC))
    org.set_person(app.extensions["services"], "cli:ops", "clerk", manager="qhead")
    upload(login(app, "root"), CHART)
    page = login(app, "aud").get("/org").text
    assert '<span title="root">管理员</span> · ' in page
    assert '<span title="cli:ops">命令行（ops）</span>' in page
    assert '<span title="system">系统</span> · 添加了用户 clerk' in page, page
    assert "记录了全部 1 位用户当时的组与启用状态，作为审计核查比对用户表的起点" in page
    english = login(app, "aud")
    english.post("/locale/en", {"next": "/"})
    page = english.get("/org").text
    assert '<span title="system">system</span>' in page
    assert "recorded the groups of all 1 users as they stood" in page
