"""Files recorded in a record are real and the submitter's: a submission binds only the
submitter's own uploads not yet part of a record (or, for a later step, files already of
this instance), and refuses any other id at its field (an id of another user's pending
upload, a made-up id, a file of another record) with nothing recorded: on the pages and
through the API alike (one rule, ``engine.app.uploads``). API clients upload with
``POST /api/v1/uploads`` and download with ``GET /api/v1/uploads/{id}``.

Through real HTTP (a server on a free port), on SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from engine import store
from tests.browser.conftest import serving

PROCEDURE = """
id: photo-check
title: 拍照检查
roles:
  inspector: 检验员
  head: 负责人
start: {roles: [inspector], form: photo-start, step: check}
steps:
  check:
    title: 复核照片
    role: inspector
    form: photo-more
    next: review
  review:
    type: approval
    title: 审核照片
    role: head
    form: photo-more
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""
START_FORM = """
id: photo-start
title: 拍照登记
schema:
  type: object
  required: [note]
  properties:
    note: {type: string, title: 说明}
    photos:
      type: array
      title: 照片
      items: {type: string}
      x-widget: file
      x-accept: [image/png, image/jpeg]
    sheet: {type: string, title: 记录单, x-widget: file}
"""
MORE_FORM = """
id: photo-more
title: 补充照片
schema:
  type: object
  properties:
    remark: {type: string, title: 备注}
    photos:
      type: array
      title: 照片
      items: {type: string}
      x-widget: file
      x-accept: [image/png, image/jpeg]
"""
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
REFUSED = {"zh": "不是您为此表单上传的文件", "en": "is not a file you uploaded for this form"}


@pytest.fixture
def server(db_url, tmp_path) -> Iterator[tuple[str, object]]:
    from web import create_app

    for folder, name, text in (("procedures", "photo-check", PROCEDURE), ("forms", "photo-start", START_FORM),
                               ("forms", "photo-more", MORE_FORM)):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    app = create_app({"SECRET_KEY": "upload-binding", "WF_OVERRIDES": {
        "database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
        "uploads.max_bytes": 4096,
        "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "roles": {"inspector": ["inspectors"], "head": ["heads"], "admin": ["admins"]}}})
    with app.extensions["services"].database.writing() as s:
        for user, groups in (("alice", ["inspectors"]), ("mallory", ["inspectors"]), ("bob", ["inspectors"]),
                             ("hank", ["heads"]), ("olga", ["outsiders"])):
            store.add_user(s, user, f"pw-{user}", groups, full_name=user.title())
    with serving(app) as base:
        yield base, app


# --------------------------------------------------------------------------- helpers


class Page:
    """A browser-like session on the pages: keeps the CSRF token of the last page."""

    def __init__(self, base: str, user: str, locale: str = "zh") -> None:
        self.base, self.s, self.token = base, requests.Session(), ""
        self.get("/login")
        r = self.post("/login", {"username": user, "password": f"pw-{user}"})
        assert r.status_code == 302, r.text
        self.get("/")
        if locale != "zh":
            assert self.post(f"/locale/{locale}", {"next": "/"}).status_code == 302

    def get(self, path: str) -> requests.Response:
        r = self.s.get(self.base + path, allow_redirects=False)
        m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        if m:
            self.token = m.group(1)
        return r

    def post(self, path: str, data: dict | list, files: dict | None = None) -> requests.Response:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        return self.s.post(self.base + path, data=[*items, ("csrf_token", self.token)], files=files,
                           allow_redirects=False)


class Api:
    def __init__(self, base: str, user: str, locale: str = "en") -> None:
        self.base = base + "/api/v1"
        r = requests.post(self.base + "/auth/token", json={"username": user, "password": f"pw-{user}"})
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['token']}", "Accept-Language": locale}

    def post(self, path: str, body: dict | None = None, **kw) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=self.headers, **kw)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers)

    def upload(self, content: bytes = PNG, name: str = "photo.png") -> str:
        r = self.post("/uploads", files={"file": (name, content)})
        assert r.status_code == 201, r.text
        return r.json()["id"]


def errors_in(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-error-for="([^"]+)">([^<]+)<', page))


def attachment(app, att_id: str):
    with app.extensions["services"].database.reading() as s:
        return s.get(store.Attachment, att_id)


def instance_count(app) -> int:
    with app.extensions["services"].database.reading() as s:
        return store.count_instances(s)


def pending_upload_of(base: str) -> tuple[Page, str]:
    """alice's start form, refused (the note is missing) and shown again with her photo's id."""
    alice = Page(base, "alice")
    alice.get("/start/photo-check")
    r = alice.post("/start/photo-check", {}, files={"f.photos:upload": ("mine.png", PNG)})
    assert r.status_code == 422, r.text
    ids = re.findall(r'<input type="hidden" name="f.photos" value="([^"]+)">', r.text)
    assert len(ids) == 1, r.text
    return alice, ids[0]


def open_task(inst: dict, step: str) -> str:
    return next(t["id"] for t in inst["tasks"] if t["step"] == step and t["status"] == "open")


# --------------------------------------------------------------------------- the attack


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_another_users_pending_upload_is_refused_at_its_field(server, locale):
    base, app = server
    alice, stolen = pending_upload_of(base)
    mallory = Page(base, "mallory", locale)
    mallory.get("/start/photo-check")
    r = mallory.post("/start/photo-check", {"f.note": "借用", "f.photos": stolen})
    assert r.status_code == 422
    assert REFUSED[locale] in errors_in(r.text).get("photos", ""), errors_in(r.text)
    assert "mine.png" not in r.text, "the page tells nothing of the file"
    assert instance_count(app) == 0, "nothing recorded"
    assert attachment(app, stolen).instance_id is None
    assert mallory.s.get(f"{base}/attachments/{stolen}").status_code == 403
    # The same through the API, in the caller's language.
    r = Api(base, "mallory", locale).post("/procedures/photo-check/instances",
                                          {"data": {"note": "借用", "photos": [stolen]}})
    assert r.status_code == 422 and r.json()["code"] == "invalid_form"
    assert [e["field"] for e in r.json()["errors"]] == ["photos"]
    assert REFUSED[locale] in r.json()["errors"][0]["message"]
    assert instance_count(app) == 0 and attachment(app, stolen).instance_id is None
    # alice sends her form again (the file kept): hers, so it is recorded.
    r = alice.post("/start/photo-check", {"f.note": "到货照片", "f.photos": stolen})
    assert r.status_code == 302, errors_in(r.text)
    iid = r.headers["Location"].rsplit("/", 1)[1]
    assert attachment(app, stolen).instance_id == iid
    assert mallory.s.get(f"{base}/attachments/{stolen}").status_code == 200, "mallory reads the record"


def test_a_later_step_keeps_earlier_files_and_refuses_foreign_ones(server):
    base, app = server
    alice, bob, mallory = Api(base, "alice"), Api(base, "bob"), Api(base, "mallory")
    first = alice.upload()
    r = alice.post("/procedures/photo-check/instances", {"data": {"note": "n", "photos": [first]}})
    assert r.status_code == 201, r.text
    inst = r.json()
    task = open_task(inst, "check")
    theirs = mallory.upload()
    # bob does the next step: mallory's pending file is not his, a made-up id is no file
    for bad in (theirs, "att_doesnotexist", "0" * 26):
        r = bob.post(f"/tasks/{task}/complete", {"data": {"photos": [first, bad]}})
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "photos", "message": r.json()["errors"][0]["message"]}]
        assert REFUSED["en"] in r.json()["errors"][0]["message"]
    assert attachment(app, theirs).instance_id is None
    assert alice.get(f"/instances/{inst['id']}").json()["rev"] == inst["rev"], "nothing recorded"
    # alice's photo is of this instance: bob may keep it, and adds his own
    his = bob.upload()
    r = bob.post(f"/tasks/{task}/complete", {"data": {"photos": [first, his]}})
    assert r.status_code == 200, r.text
    assert attachment(app, his).instance_id == inst["id"]
    # the approval's data and a correction: the same rule
    review = open_task(r.json(), "review")
    hank = Api(base, "hank")
    r = hank.post(f"/tasks/{review}/complete", {"data": {"decision": "approve", "photos": [theirs]}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos", r.text
    r = alice.post(f"/instances/{inst['id']}/corrections",
                   {"step": "start", "field": "photos", "value": [theirs], "reason": "换图"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos", r.text
    assert attachment(app, theirs).instance_id is None
    mine = alice.upload()
    r = alice.post(f"/instances/{inst['id']}/corrections",
                   {"step": "start", "field": "photos", "value": [first, mine], "reason": "补图"})
    assert r.status_code == 200, r.text
    assert attachment(app, mine).instance_id == inst["id"]
    # a file of another record is not this one's
    other = alice.post("/procedures/photo-check/instances",
                       {"data": {"note": "n", "photos": [alice.upload()]}}).json()
    r = alice.post("/procedures/photo-check/instances", {"data": {"note": "n", "sheet": other["data"]["start"]["photos"][0]}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sheet", r.text


def test_made_up_id_is_refused_and_nothing_recorded(server):
    base, app = server
    r = Api(base, "alice", "zh").post("/procedures/photo-check/instances",
                                      {"data": {"note": "n", "photos": ["att_doesnotexist"]}})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": "photos", "message": r.json()["errors"][0]["message"]}]
    assert REFUSED["zh"] in r.json()["errors"][0]["message"]
    assert instance_count(app) == 0


def test_a_file_the_field_does_not_accept_is_refused_at_binding(server):
    """The pages check a field's x-accept when the file is posted; an API upload knows no
    field, so the submission checks it."""
    base, app = server
    alice = Api(base, "alice")
    pdf = alice.upload(b"%PDF-1.4 report", "report.pdf")
    r = alice.post("/procedures/photo-check/instances", {"data": {"note": "n", "photos": [pdf]}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos", r.text
    assert "application/pdf" in r.json()["errors"][0]["message"]
    assert instance_count(app) == 0 and attachment(app, pdf).instance_id is None


# --------------------------------------------------------------------------- the API's uploads


def test_api_upload_start_and_download_round_trip(server):
    base, app = server
    alice = Api(base, "alice")
    r = alice.post("/uploads", files={"file": ("到货.png", PNG)})
    assert r.status_code == 201, r.text
    up = r.json()
    assert up == {"id": up["id"], "filename": "到货.png", "size": len(PNG), "content_type": "image/png"}
    row = attachment(app, up["id"])
    assert row.uploaded_by == "alice" and row.instance_id is None and len(row.sha256) == 64
    r = alice.post("/procedures/photo-check/instances", {"data": {"note": "到货", "photos": [up["id"]]}})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["start"]["photos"] == [up["id"]]
    got = alice.get(f"/uploads/{up['id']}")
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["Content-Type"] == "image/png" and "attachment" in got.headers["Content-Disposition"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert Api(base, "hank").get(f"/uploads/{up['id']}").content == PNG, "a reader of the record"
    r = Api(base, "olga").get(f"/uploads/{up['id']}")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert alice.get("/uploads/00000000000000000000000000").status_code == 404
    # and on the pages: the record shows the photo
    page = Page(base, "alice").get(f"/instances/{attachment(app, up['id']).instance_id}").text
    assert f"/attachments/{up['id']}" in page


def test_api_upload_refusals(server):
    base, app = server
    alice = Api(base, "alice")
    r = alice.post("/uploads", files={"file": ("big.png", PNG + b"\0" * 5000)})
    assert r.status_code == 413 and r.json()["errors"][0]["field"] == "file", r.text
    r = alice.post("/uploads", files={"file": ("fake.png", b"<html>")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file", r.text
    r = alice.post("/uploads", files={"file": ("run.exe", b"MZ")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file", r.text
    r = alice.post("/uploads", files={"other": ("a.png", PNG)})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "file", r.text
    r = alice.post("/uploads", {"file": "x"})
    assert r.status_code == 400, r.text
    r = alice.post("/uploads", files=[("file", ("a.png", PNG)), ("file", ("b.png", PNG))])
    assert r.status_code == 400, r.text
    with app.extensions["services"].database.reading() as s:
        assert s.scalars(select(store.Attachment.id)).all() == []
    r = Api(base, "alice", "zh").post("/uploads", files={"file": ("fake.png", b"<html>")})
    assert r.status_code == 422 and "不接受" in r.json()["errors"][0]["message"], r.text


def test_a_file_bound_meanwhile_is_refused_by_the_bind_itself(server):
    """Two submissions of the same upload at once both pass ``refuse_foreign``; the second
    one's ``bind`` finds the file in the other record and refuses (its transaction with it)."""
    from engine.app import uploads
    from engine.errors import FormInvalid

    base, app = server
    alice = Api(base, "alice")
    photo = alice.upload()
    one = alice.post("/procedures/photo-check/instances", {"data": {"note": "1", "photos": [photo]}}).json()
    two = alice.post("/procedures/photo-check/instances", {"data": {"note": "2"}}).json()
    with pytest.raises(FormInvalid) as refused, app.extensions["services"].database.writing() as s:
        uploads.bind(s, "alice", two["id"], [uploads.FileValue("photos", photo)], "en",
                     now=app.extensions["services"].now(), step="start")
    assert refused.value.errors[0]["field"] == "photos"
    assert attachment(app, photo).instance_id == one["id"]
