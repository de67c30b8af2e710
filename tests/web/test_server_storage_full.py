"""A full disk, as operators meet it: every write is refused with 503 and a message in the
user's language, what was typed comes back, nothing is half-recorded (no row, no stray file),
``/readyz`` and ``/metrics`` say how much room is left, and once room is made the same post
goes through with the trail intact.

Before: a step on a full disk answered 500 "Something went wrong" and the typed text was
lost; ``/readyz`` said ready."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, text

from engine import store
from engine.store import Instance
from tests.web.test_web_ui import PNG, RECEIPT, START, Browser, start_instance, task_of
from web import create_app

TYPED = {**RECEIPT, "f.reported_fault": "开机后屏幕闪烁三次"}


def _make_app(url: str, uploads: Path, **server):
    app = create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": url, "paths.uploads": str(uploads), "locale": "zh",
        **{f"server.{k}": v for k, v in server.items()}}})
    app.config["PROPAGATE_EXCEPTIONS"] = False  # what a user gets, as in production
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "insp", "pw-insp", ["qa-inspectors"], full_name="检验员甲")
    return app


def _token(app) -> str:
    r = app.test_client().post("/api/v1/auth/token", json={"username": "insp", "password": "pw-insp"})
    return r.json["token"]


def _recorded(app) -> tuple[int, int]:
    with app.extensions["services"].database.reading() as s:
        return (s.query(Instance).count(), s.execute(text("SELECT count(*) FROM events")).scalar_one())


def _refused_everywhere(app, insp: Browser, tid: str, token: str) -> None:
    """Every kind of write answers 503 storage_full, keeps the typed values, records nothing."""
    before = _recorded(app)
    for action in ("submit", "draft"):
        r = insp.post(f"/tasks/{tid}", {**TYPED, "action": action})
        assert r.status_code == 503 and r.headers["Retry-After"] == "60", (action, r.status_code)
        assert "磁盘已满" in r.text and "开机后屏幕闪烁三次" in r.text, action
    r = insp.post("/start/after-sales-inspection", {**START, "f.serial_no": "SN-FULL-1"})
    assert r.status_code == 503 and "SN-FULL-1" in r.text and "磁盘已满" in r.text
    r = app.test_client().post(f"/api/v1/tasks/{tid}/complete", json={"data": {
        "received_on": "2026-05-11", "condition": "包装完好", "reported_fault": "x"}},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "60"
    assert r.json["code"] == "storage_full" and "disk is full" in r.json["message"]
    assert _recorded(app) == before


def _goes_through_again(app, insp: Browser, tid: str) -> None:
    r = insp.post(f"/tasks/{tid}", {**TYPED, "action": "submit"})
    assert r.status_code == 302, r.text
    with app.extensions["services"].database.reading() as s:
        assert store.verify(s) == []


def test_a_sqlite_file_that_cannot_grow_is_refused_as_storage_full(tmp_path):
    """SQLite's own refusal (SQLITE_FULL, as for a full disk: here the file may not grow
    past ``max_page_count``) becomes ``StorageFull`` and the transaction is rolled back."""
    from engine.app.database import Database
    from engine.errors import StorageFull

    engine = store.make_engine(f"sqlite:///{tmp_path}/full.db")
    database = Database(engine)
    with database.writing() as s:
        s.execute(text("CREATE TABLE scratch (x BLOB)"))

    @event.listens_for(engine, "connect")
    def cannot_grow(dbapi_connection, _record):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    engine.dispose()
    with pytest.raises(StorageFull) as refused, database.writing() as s:
        s.execute(text("INSERT INTO scratch VALUES (:x)"), {"x": b"\0" * 100_000})
    assert refused.value.headers == {"Retry-After": "60"} and refused.value.code == "storage_full"
    with database.reading() as s:
        assert s.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 0
    engine.dispose()


def _pg_refuses(database, condition: str, message: str, tables: tuple[str, ...]) -> None:
    """Writes to ``tables`` fail with PostgreSQL's own error ``condition`` (a trigger)."""
    with database.writing() as s:
        s.execute(text("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       f"RAISE EXCEPTION '{message}' USING ERRCODE = '{condition}'; END $$"))
        for table in tables:
            s.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON {table} "
                           "FOR EACH ROW EXECUTE FUNCTION refuse()"))


def test_a_full_database_disk_refuses_every_write_with_503(backend, db_url, tmp_path):
    """PostgreSQL's refusal (SQLSTATE 53100 disk_full, raised here by a trigger as the server
    raises it when it cannot extend a table's file), for the pages and the API."""
    if backend != "postgresql":
        pytest.skip("SQLite's refusal is tested above and on a real full disk below")
    app = _make_app(db_url, tmp_path / "uploads")
    insp = Browser(app)
    insp.login("insp")
    tid = task_of(insp, start_instance(insp))
    token = _token(app)
    database = app.extensions["services"].database
    tables = ("events", "drafts")  # what a step, a start and a draft write
    _pg_refuses(database, "disk_full", "could not extend file: No space left on device", tables)
    _refused_everywhere(app, insp, tid, token)
    with database.writing() as s:
        for table in tables:
            s.execute(text(f"DROP TRIGGER refuse ON {table}"))
    _goes_through_again(app, insp, tid)
    database.engine.dispose()


@pytest.fixture
def small_disk():
    """A 16 MB file system of its own (tmpfs), as a server's disk that fills up."""
    where = Path(f"/tmp/wf-small-disk-{uuid.uuid4().hex[:8]}")
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
                                           capture_output=True).returncode != 0:
        where.rmdir()
        pytest.skip("mounting a small file system needs root (the SQLite refusal is tested without it)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_refuses_steps_and_photos_and_readyz_says_so(small_disk):
    uploads = small_disk / "uploads"
    app = _make_app(f"sqlite:///{small_disk}/wf.db", uploads, min_free_mb=4, worker_seconds=None)
    client = app.test_client()
    assert client.get("/readyz").json["checks"]["storage"] == "ok"
    insp = Browser(app)
    insp.login("insp")
    tid = task_of(insp, start_instance(insp))
    token = _token(app)
    filler = _fill(small_disk)

    r = client.get("/readyz")
    assert r.status_code == 503 and "only 0 MB free" in r.json["checks"]["storage"]
    assert str(small_disk / "wf.db") in r.json["checks"]["storage"]
    assert "server.min_free_mb" in r.json["checks"]["storage"]
    assert f'qualityflow_storage_free_bytes{{path="{uploads}"}}' in client.get("/metrics").text
    assert insp.get("/").status_code == 200  # reading goes on

    _refused_everywhere(app, insp, tid, token)
    # A photo with the step: the file cannot be written either; the typed values come back,
    # and no half-written file is left behind.
    r = insp.post(f"/tasks/{tid}", {**TYPED, "action": "submit", "f.photos:upload": (io.BytesIO(PNG * 50), "p.png")},
                  content_type="multipart/form-data")
    assert r.status_code == 503 and "开机后屏幕闪烁三次" in r.text and "磁盘已满" in r.text
    assert not uploads.exists() or not any(uploads.rglob("*")) or all(p.is_dir() for p in uploads.rglob("*"))

    filler.unlink()
    assert client.get("/readyz").json["checks"]["storage"] == "ok"
    _goes_through_again(app, insp, tid)
    app.extensions["services"].database.engine.dispose()


def test_a_postgresql_server_that_takes_no_more_connections_answers_busy(backend, db_url, tmp_path):
    """SQLSTATE 53300 too_many_connections (a pool larger than ``max_connections`` allows,
    raised here by a trigger with the server's own code): 503 busy with Retry-After, not 500."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's own refusal")
    app = _make_app(db_url, tmp_path / "uploads")
    token = _token(app)
    database = app.extensions["services"].database
    _pg_refuses(database, "too_many_connections", "sorry, too many clients already", ("events",))
    r = app.test_client().post("/api/v1/procedures/after-sales-inspection/instances", json={"data": {
        "customer": "x", "product_name": "y", "serial_no": "z", "quantity": 1}},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "2" and r.json["code"] == "busy"
    database.engine.dispose()
