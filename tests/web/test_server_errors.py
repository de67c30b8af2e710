"""What people get when the server cannot do what they asked: a write that cannot have the
database lock answers 503 with Retry-After in their language and keeps what they typed; a
missing page and a crash get styled pages in their language, not Werkzeug's English."""

from __future__ import annotations

import pytest

from engine.app.database import WriteQueue
from engine.store import Instance
from tests.web.test_web_ui import RECEIPT, app, login, start_instance, task_of  # noqa: F401 (fixture)


@pytest.fixture
def held(app):  # noqa: F811 (the fixture above)
    """The write queue held by another process for longer than a request may wait."""
    database = app.extensions["services"].database
    if database.queue is None:
        pytest.skip("the write queue is SQLite's")
    database.write_wait = 0.2
    other = WriteQueue(database.engine.url.database)  # its own descriptor: another process
    return other


def _count(app) -> int:  # noqa: F811
    with app.extensions["services"].database.reading() as s:
        return s.query(Instance).count()


def test_a_form_step_that_cannot_be_written_answers_503_and_keeps_what_was_typed(app, held):  # noqa: F811
    insp = login(app, "insp")
    iid = start_instance(insp)
    tid = task_of(insp, iid)
    typed = {**RECEIPT, "f.reported_fault": "开机后屏幕闪烁三次"}
    for action in ("submit", "draft"):
        with held.hold():
            r = insp.post(f"/tasks/{tid}", {**typed, "action": action})
        assert r.status_code == 503 and r.headers["Retry-After"] == "2", action
        assert "服务器繁忙" in r.text and "开机后屏幕闪烁三次" in r.text, action
    # Nothing was recorded, and once the lock is free the same post goes through.
    assert insp.post(f"/tasks/{tid}", {**typed, "action": "submit"}).status_code == 302


def test_a_step_with_a_file_that_cannot_be_stored_keeps_the_typed_values(app, held):  # noqa: F811
    import io

    from tests.web.test_web_ui import PNG

    insp = login(app, "insp")
    tid = task_of(insp, start_instance(insp))
    posted = {**RECEIPT, "f.reported_fault": "屏幕闪烁", "action": "submit",
              "f.photos:upload": (io.BytesIO(PNG), "photo.png")}
    with held.hold():
        r = insp.post(f"/tasks/{tid}", posted, content_type="multipart/form-data")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert "屏幕闪烁" in r.text and "服务器繁忙" in r.text


def test_a_start_that_cannot_be_written_keeps_the_form(app, held):  # noqa: F811
    insp = login(app, "insp")
    before = _count(app)
    with held.hold():
        r = insp.post("/start/after-sales-inspection", {"f.customer": "某市人民医院", "f.product_name": "监护仪",
                                                        "f.serial_no": "SN-BUSY-1", "f.quantity": "1"})
    assert r.status_code == 503 and "SN-BUSY-1" in r.text and "服务器繁忙" in r.text
    assert _count(app) == before


def test_api_write_answers_503_json_with_retry_after(app, held):  # noqa: F811
    client = app.test_client()
    with app.extensions["services"].database.writing() as s:
        from engine import store
        store.add_user(s, "api-user", "pw-api", ["qa-inspectors"], full_name="接口")
    token = client.post("/api/v1/auth/token", json={"username": "api-user", "password": "pw-api"}).json["token"]
    with held.hold():
        r = client.post("/api/v1/procedures/after-sales-inspection/instances",
                        json={"data": {"customer": "x", "product_name": "y", "serial_no": "z", "quantity": 1}},
                        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert r.json["code"] == "busy" and "Try again in a few seconds" in r.json["message"]


def test_404_and_500_pages_are_styled_and_in_the_users_language(app):  # noqa: F811
    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("a bug")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    insp = login(app, "insp")
    r = insp.get("/no/such/page")
    assert r.status_code == 404 and "页面不存在" in r.text and 'class="error"' in r.text
    assert "Not Found" not in r.text
    r = insp.get("/boom-for-test")
    assert r.status_code == 500 and "出错了" in r.text and "Internal Server Error" not in r.text
    assert "a bug" not in r.text, "no internals on the page"
    api = app.test_client().get("/api/v1/no-such", headers={"Accept-Language": "en"})
    assert api.status_code in (401, 404) and api.is_json


def test_413_and_405_pages_are_styled_in_the_users_language_and_say_what_to_do(app):  # noqa: F811
    """Werkzeug answered both with its bare English page (no viewport: 980 px on a phone)."""
    from engine.app.uploads import size_words as _size

    assert (_size(10 * 1024 * 1024), _size(64 * 1024), _size(1536 * 1024)) == ("10 MB", "64 KB", "1.5 MB")
    insp = login(app, "insp")
    tid = task_of(insp, start_instance(insp))
    app.config["MAX_CONTENT_LENGTH"] = 1024
    limit = app.extensions["services"].config.get("uploads", "max_bytes")
    r = insp.post(f"/tasks/{tid}", {"f.condition": "x" * 4096}, headers={"Referer": f"http://localhost/tasks/{tid}"})
    assert r.status_code == 413 and 'class="error"' in r.text and 'name="viewport"' in r.text
    assert "Request Entity Too Large" not in r.text and "文件太大" in r.text
    assert f"合计 {_size(5 * limit)}；每个文件不超过 {_size(limit)}" in r.text, "names both limits"
    assert "没有保存" in r.text, "says honestly that what was typed is not saved"
    assert f'href="/tasks/{tid}"' in r.text, "a way back to the form"
    r = insp.get("/logout")
    assert r.status_code == 405 and 'class="error"' in r.text and "Method Not Allowed" not in r.text
    assert 'lang="zh-CN"' in r.text and 'href="/"' in r.text
    # The API keeps its JSON answers.
    r = app.test_client().get("/api/v1/auth/token", headers={"Accept-Language": "en"})
    assert r.status_code == 405 and r.json["code"] == "method_not_allowed"


def test_a_foreign_referrer_is_not_offered_as_the_way_back(app):  # noqa: F811
    insp = login(app, "insp")
    r = insp.get("/logout", headers={"Referer": "https://evil.example/x"})
    assert r.status_code == 405 and "evil.example" not in r.text
