"""A user with an ordinary account sends what no form asks for: a 9 MB remark, a table of
100,000 rows, a 9 MB draft. Every request fits under the server's 10 MB cap, and each such
value would be carried whole by the record's events and every page and step of it from then
on. A text or list a form gives no bound gets one (10,000 characters, 1,000 rows; a form
raises it with maxLength / maxItems), a draft at most 1 MB: refused at the field in the
user's language, nothing recorded. SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import func, select

from engine.language.forms.submission import ITEMS_MAX, TEXT_MAX
from engine.store.tables import Draft, Instance
from tests.helpers.service import PASSWORD, answers, inspector_app  # noqa: F401  (the app fixture)
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"


def _api(app):
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).get_json()["token"]
    return c, {"Authorization": f"Bearer {token}", "Accept-Language": "zh"}


def _count(app):
    with app.extensions["services"].database.reading() as s:
        return s.scalar(select(func.count()).select_from(Instance))


def test_a_text_without_a_bound_of_its_own_is_bounded(app):
    c, headers = _api(app)
    start = answers(f"{PID}--fail")["start"]["data"]
    r = c.post(f"/api/v1/procedures/{PID}/instances", headers=headers,
               json={"data": dict(start, customer="客" * (9 * 1024 * 1024 // 3))})
    assert r.status_code == 422, r.status_code
    assert {"field": "customer", "message": f"最多填写 {TEXT_MAX} 个字"} in r.get_json()["errors"], r.get_json()
    assert _count(app) == 0
    ok = c.post(f"/api/v1/procedures/{PID}/instances", headers=headers,
                json={"data": dict(start, customer="客" * TEXT_MAX)})
    assert ok.status_code == 201 and _count(app) == 1


def test_a_draft_is_at_most_a_megabyte(app):
    c, headers = _api(app)
    r = c.post(f"/api/v1/procedures/{PID}/instances", headers=headers,
               json={"data": answers(f"{PID}--fail")["start"]["data"]})
    task = next(t for t in r.get_json()["tasks"] if t["status"] == "open")["id"]
    b = Browser(app)
    b.login("inspector1", PASSWORD)
    big = b.post(f"/tasks/{task}", {"f.condition": "破" * (600 * 1024), "action": "draft"})
    assert big.status_code == 422, big.status_code
    assert "这份草稿太大，无法保存（1800 KB，最多 1 MB）" in big.text
    assert big.text.count("破" * 1000) >= 1, "the form keeps what was typed"
    with app.extensions["services"].database.reading() as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 0
    small = b.post(f"/tasks/{task}", {"f.condition": "外包装有破损", "action": "draft"})
    assert small.status_code == 200 and "草稿已于" in small.text


def test_the_bounds_are_the_validated_schemas_own(app):
    from engine.language.forms.submission import validation_schema

    checked = validation_schema({"type": "object", "properties": {
        "free": {"type": "string"}, "own": {"type": "string", "maxLength": 50_000},
        "choice": {"type": "string", "enum": ["a", "b"]}, "rows": {"type": "array", "items": {"type": "string"}}}})
    props = checked["properties"]
    assert props["free"]["maxLength"] == TEXT_MAX and props["own"]["maxLength"] == 50_000
    assert "maxLength" not in props["choice"]
    assert props["rows"]["maxItems"] == ITEMS_MAX and props["rows"]["items"]["maxLength"] == TEXT_MAX


def test_a_reason_or_comment_is_bounded_as_a_text_field_is(app):
    """The free texts beside a form (a transfer's or return's reason, an approval's comment)
    are carried whole by the events too: at most TEXT_MAX characters, at the field."""
    from engine.store import users as user_store

    with app.extensions["services"].database.writing() as s:
        user_store.add_user(s, "inspector2", PASSWORD, ["qa-inspectors"], full_name="检验员二")
    c, headers = _api(app)
    r = c.post(f"/api/v1/procedures/{PID}/instances", headers=headers,
               json={"data": answers(f"{PID}--fail")["start"]["data"]})
    task = next(t for t in r.get_json()["tasks"] if t["status"] == "open")["id"]
    long = c.post(f"/api/v1/tasks/{task}/transfer", headers=headers,
                  json={"to_user": "inspector2", "reason": "因" * (TEXT_MAX + 1)})
    assert long.status_code == 422, long.get_json()
    assert {"field": "reason", "message": f"最多 {TEXT_MAX} 个字符"} in long.get_json()["errors"], long.get_json()
    ok = c.post(f"/api/v1/tasks/{task}/transfer", headers=headers, json={"to_user": "inspector2", "reason": "休假"})
    assert ok.status_code == 200, ok.get_json()
