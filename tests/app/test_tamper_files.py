"""A photo or a drawn signature replaced after it was recorded (an insider with the server's disk
or the database): the files a submission binds join the record's hash-chained trail with their
content (``files:recorded``: SHA-256 and size, the file named by the hash of its id), so

- a file replaced on disk is not served as the record's (``FileAltered``, 409, in the reader's
  language) and ``wf audit verify --files`` names it;
- a file replaced on disk *and* in the files table (its SHA-256 and size rewritten to match)
  is named by ``wf audit verify`` and by the record's integrity check (record page, dossier,
  ``GET /api/v1/instances/{id}``), by its step and field;
- a file row deleted or a file added to a record by a row is named too;
- files bound before this (migration 0024) are recorded as they stood, by ``system``.

Through Flask's test client and the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from engine import store
from engine.cli import main
from engine.store.db import downgrade, upgrade
from engine.store.tables import Attachment, Event, Instance
from tests.helpers.tamper import insider
from tests.web.test_upload_binding import MORE_FORM, PNG, PROCEDURE, START_FORM
from web import create_app

OTHER_PNG = b"\x89PNG\r\n\x1a\n" + b"\1" * 100


@pytest.fixture
def app(db_url, tmp_path, monkeypatch):
    for folder, name, text in (("procedures", "photo-check", PROCEDURE), ("forms", "photo-start", START_FORM),
                               ("forms", "photo-more", MORE_FORM)):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    overrides = {"database.url": db_url, "locale": "zh", "paths.uploads": str(tmp_path / "uploads"),
                 "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
                 "roles": {"inspector": ["inspectors"], "head": ["heads"], "admin": ["admins"]}}
    app = create_app({"SECRET_KEY": "tamper-files", "WF_OVERRIDES": overrides})
    with app.extensions["services"].database.writing() as s:
        for user, groups in (("alice", ["inspectors"]), ("hank", ["heads"])):
            store.add_user(s, user, f"pw-{user}", groups, full_name=user.title())
    # The command line reads the same database and procedures (wf audit verify).
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({k.split(".")[0]: {k.split(".")[1]: v} if "." in k else v
                                  for k, v in overrides.items() if k != "database.url"}), encoding="utf-8")
    monkeypatch.setenv("WF_CONFIG", str(config))
    yield app
    app.extensions["services"].database.engine.dispose()


class Api:
    def __init__(self, app, user: str, language: str = "zh") -> None:
        self.c = app.test_client()
        token = self.c.post("/api/v1/auth/token", json={"username": user, "password": f"pw-{user}"}).get_json()["token"]
        self.headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}

    def upload(self, content: bytes = PNG, name: str = "photo.png") -> str:
        r = self.c.post("/api/v1/uploads", data={"file": (io.BytesIO(content), name)}, headers=self.headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    def get(self, path: str):
        return self.c.get(f"/api/v1{path}", headers=self.headers)

    def post(self, path: str, body: dict):
        return self.c.post(f"/api/v1{path}", json=body, headers=self.headers)


def started(app) -> tuple[Api, str, str]:
    """alice starts a record with one photo; (her client, the record, the photo's id)."""
    alice = Api(app, "alice")
    photo = alice.upload()
    r = alice.post("/procedures/photo-check/instances", {"data": {"note": "外观", "photos": [photo]}})
    assert r.status_code == 201, r.get_json()
    return alice, r.get_json()["id"], photo


def verify(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, ["audit", "verify", *args])
    return out.exit_code, out.output


def stored_path(app, photo: str) -> Path:
    with app.extensions["services"].database.engine.connect() as conn:
        return Path(conn.execute(select(Attachment.storage_path).where(Attachment.id == photo)).scalar_one())


def test_the_trail_records_each_bound_files_content_and_not_its_id(app):
    alice, iid, photo = started(app)
    events = alice.get(f"/instances/{iid}/events").get_json()["items"]
    recorded = [e for e in events if e["type"] == "files:recorded"]
    assert len(recorded) == 1 and recorded[0]["actor"] == "alice" and recorded[0]["step"] == "start"
    assert recorded[0]["data"] == {"files": [{"field": "photos", "file": hashlib.sha256(photo.encode()).hexdigest(),
                                              "sha256": hashlib.sha256(PNG).hexdigest(), "size": len(PNG)}]}
    assert photo not in json.dumps(recorded)
    assert alice.get(f"/instances/{iid}").get_json()["integrity"]["ok"] is True
    assert verify("--files") == (0, verify("--files")[1]) and "1 files read" in verify("--files")[1]
    # A later step that keeps the record's photo and adds one records only the new one.
    task = next(t for t in alice.get(f"/instances/{iid}").get_json()["tasks"] if t["status"] == "open")
    more = alice.upload(OTHER_PNG, "more.png")
    r = alice.post(f"/tasks/{task['id']}/complete", {"data": {"photos": [photo, more]}})
    assert r.status_code == 200, r.get_json()
    recorded = [e for e in alice.get(f"/instances/{iid}/events").get_json()["items"] if e["type"] == "files:recorded"]
    assert [[f["sha256"] for f in e["data"]["files"]] for e in recorded] == [
        [hashlib.sha256(PNG).hexdigest()], [hashlib.sha256(OTHER_PNG).hexdigest()]]
    assert recorded[1]["step"] == "check" and recorded[1]["task"] == task["local_id"]
    assert verify()[0] == 0


def test_a_file_replaced_on_disk_is_not_served_and_verify_files_names_it(app):
    alice, iid, photo = started(app)
    stored_path(app, photo).write_bytes(OTHER_PNG)  # the same size, another picture
    r = alice.get(f"/uploads/{photo}")
    assert r.status_code == 409 and r.get_json()["code"] == "file_altered"
    assert r.get_json()["message"] == ("服务器上的文件“photo.png”不是所登记的文件（其内容在上传后被改动）；不予显示。"
                                       "请管理员从备份恢复。")
    english = Api(app, "alice", "en").get(f"/uploads/{photo}").get_json()["message"]
    assert english.startswith("The file “photo.png” on the server is not the file that was recorded "
                              "(its content changed after it was uploaded)")
    code, out = verify("--files")
    assert code == 1 and f"BROKEN: {iid}" in out and f"file {photo} ('photo.png')" in out
    assert "its content changed after it was uploaded" in out
    assert verify()[0] == 0  # without --files the disk is not read: the rows still match the trail
    stored_path(app, photo).unlink()
    assert alice.get(f"/uploads/{photo}").get_json()["message"].startswith("服务器上的文件“photo.png”不是所登记的文件（文件缺失）")


def test_a_file_replaced_on_disk_and_in_the_files_table_is_named_by_the_records_check(app):
    alice, iid, photo = started(app)
    stored_path(app, photo).write_bytes(OTHER_PNG + b"!")
    with app.extensions["services"].database.engine.begin() as conn:
        conn.execute(update(Attachment).where(Attachment.id == photo).values(
            sha256=hashlib.sha256(OTHER_PNG + b"!").hexdigest(), size=len(OTHER_PNG) + 1))
    served = alice.get(f"/uploads/{photo}")
    served.close()
    assert served.status_code == 200  # the disk and the row agree now
    said = alice.get(f"/instances/{iid}").get_json()["integrity"]
    assert said["ok"] is False and said["record"] is True
    assert ("「发起表单」的「照片」中的文件不是其审计轨迹所记录的文件：校验值 "
            f"{hashlib.sha256(OTHER_PNG + b'!').hexdigest()[:16]}…，记录为 {hashlib.sha256(PNG).hexdigest()[:16]}…"
            ) in said["message"], said
    code, out = verify()
    assert code == 1 and f"BROKEN: {iid}" in out and f"file {photo} ('photo.png'): stored sha256" in out, out


def test_a_file_row_removed_or_added_is_named(app):
    alice, iid, photo = started(app)
    stray = alice.upload(OTHER_PNG, "stray.png")
    with app.extensions["services"].database.engine.begin() as conn:
        conn.execute(update(Attachment).where(Attachment.id == stray).values(instance_id=iid))
    code, out = verify()
    assert code == 1 and f"file {stray} ('stray.png'): held by the record, not in its audit trail" in out, out
    said = alice.get(f"/instances/{iid}").get_json()["integrity"]["message"]
    assert "文件“stray.png”" in said and stray not in said
    with app.extensions["services"].database.engine.begin() as conn:
        conn.execute(delete(Attachment).where(Attachment.id.in_([photo, stray])))
    code, out = verify()
    assert code == 1 and "file of start.photos" in out and "recorded in the audit trail, not held by the record" in out


def test_files_bound_before_the_upgrade_are_recorded_by_the_migration(app, db_url):
    """The record as it was before 0024: its file bound without an event. Upgrading records
    it (by system, with its name), the record verifies, and a replacement is then named."""
    alice, iid, photo = started(app)
    engine = app.extensions["services"].database.engine
    with insider(engine) as conn:
        head = conn.execute(select(Event.seq, Event.prev_hash).where(
            Event.instance_id == iid, Event.type == "files:recorded")).one()
        conn.execute(delete(Event).where(Event.instance_id == iid, Event.seq >= head.seq))
        conn.execute(update(Instance).where(Instance.id == iid).values(event_seq=head.seq - 1,
                                                                       event_hash=head.prev_hash))
    assert "held by the record, not in its audit trail" in verify()[1]
    downgrade(db_url, "0023_database_identity")
    upgrade(db_url)
    assert verify()[0] == 0
    baseline = [e for e in alice.get(f"/instances/{iid}/events").get_json()["items"] if e["type"] == "files:recorded"]
    assert [(e["actor"], e["data"]["reason"], e["data"]["files"][0]["name"]) for e in baseline] == [
        ("system", "baseline", "photo.png")]
    with engine.begin() as conn:
        conn.execute(update(Attachment).where(Attachment.id == photo).values(sha256="0" * 64))
    code, out = verify()
    assert code == 1 and f"file {photo} ('photo.png'): stored sha256 0000000000000000" in out
    assert "文件“photo.png”不是其审计轨迹所记录的文件" in alice.get(f"/instances/{iid}").get_json()["integrity"]["message"]


def test_the_timeline_says_which_files_were_recorded_in_the_readers_language(app):
    from tests.web.test_one_language import english_words
    from tests.web.test_web_ui import Browser

    _alice, iid, _photo = started(app)
    page = Browser(app)
    page.login("alice")
    text = page.get(f"/instances/{iid}").text
    assert "登记附件" in text and f"1 个文件，校验值 {hashlib.sha256(PNG).hexdigest()[:12]}…" in text
    note = re.search(r'<span class="note">(1 个文件[^<]*)</span>', text).group(1)
    assert not english_words(note), note
    dossier = page.get(f"/audit/instances/{iid}").text  # the dossier's trail says it alike
    assert f"1 个文件，校验值 {hashlib.sha256(PNG).hexdigest()[:12]}…" in dossier
    page.post("/locale/en", {"next": "/"})
    assert "files recorded" in page.get(f"/instances/{iid}").text


def test_a_file_that_cannot_be_read_is_named_and_the_others_still_checked(app):
    alice, iid, photo = started(app)
    _alice, _other, second = started(app)
    path = stored_path(app, photo)
    path.unlink()
    path.mkdir()  # something else in its place
    r = alice.get(f"/uploads/{photo}")
    assert r.status_code == 409 and "（文件无法读取）" in r.get_json()["message"]
    stored_path(app, second).write_bytes(OTHER_PNG)
    code, out = verify("--files")
    assert code == 1 and f"file {photo} ('photo.png')" in out and "it cannot be read" in out
    assert f"file {second} ('photo.png')" in out and "its content changed" in out, out


def test_the_trail_of_a_sensitive_file_field_is_masked_as_the_field_is(app, tmp_path):
    """A file field marked x-sensitive (an ID card's scan): its recorded hash would confirm a
    guessed file, so a reader without clearance sees the entry masked, in the events, the
    timeline and in what the record check says."""
    sensitive = START_FORM.replace("      x-widget: file\n      x-accept: [image/png, image/jpeg]\n    sheet",
                                   "      x-widget: file\n      x-sensitive: true\n      x-accept: [image/png, image/jpeg]\n"
                                   "    sheet", 1)
    assert sensitive != START_FORM
    (tmp_path / "forms" / "photo-start.yaml").write_text(sensitive, encoding="utf-8")
    services = app.extensions["services"]
    with services.database.writing() as s:
        services.workflow.load_procedures(s)
        store.add_user(s, "hank2", "pw-hank2", ["heads"], full_name="Hank Two")
    alice, iid, photo = started(app)
    digest = hashlib.sha256(PNG).hexdigest()
    head = Api(app, "hank2")
    events = head.get(f"/instances/{iid}/events").get_json()["items"]
    entry = next(e for e in events if e["type"] == "files:recorded")["data"]["files"][0]
    assert entry == {"field": "photos", "file": "●●●●", "sha256": "●●●●", "size": "●●●●"}
    assert digest not in json.dumps(events) and digest[:12] not in head.get(f"/instances/{iid}").get_data(as_text=True)
    with app.extensions["services"].database.engine.begin() as conn:
        conn.execute(update(Attachment).where(Attachment.id == photo).values(sha256="f" * 64))
    said = head.get(f"/instances/{iid}").get_json()["integrity"]["message"]
    assert "「照片」中的文件不是其审计轨迹所记录的文件：校验值 ●●●●…，记录为 ●●●●…" in said, said
