"""A file in a field marked x-sensitive (an ID card's scan) stays masked for a reader of the
record without clearance, as its value, its trail entry and its record check already are:

- the dossier (page and PDF) listed every file of the record with its name and whole SHA-256,
  the hash the trail masks because it confirms a guessed file;
- its id, once known (a page seen while the reader worked on the record, a shared link),
  downloaded it for any reader of the record, and a cleared reader's download was not in
  the access log.

Through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest

from engine import store
from tests.app.test_tamper_files import PNG, START_FORM, Api, started
from tests.app.test_tamper_files import app as tamper_app  # noqa: F401  (the fixture)
from tests.helpers.pdf import pdf_text
from tests.web.test_web_ui import Browser

DIGEST = hashlib.sha256(PNG).hexdigest()


@pytest.fixture
def app(tamper_app, tmp_path):  # noqa: F811
    sensitive = START_FORM.replace("      x-widget: file\n      x-accept: [image/png, image/jpeg]\n    sheet",
                                   "      x-widget: file\n      x-sensitive: true\n      x-accept: [image/png, image/jpeg]\n"
                                   "    sheet", 1)
    assert sensitive != START_FORM
    (tmp_path / "forms" / "photo-start.yaml").write_text(sensitive, encoding="utf-8")
    services = tamper_app.extensions["services"]
    with services.database.writing() as s:
        services.workflow.load_procedures(s)
        store.add_user(s, "hank2", "pw-hank2", ["heads"], full_name="Hank Two")
        store.add_user(s, "dora", "pw-dora", ["heads", "data-officers"], full_name="Dora")
    return tamper_app


def _browser(app, user: str) -> Browser:
    b = Browser(app)
    b.login(user, f"pw-{user}")
    return b


def test_the_dossier_masks_the_name_and_hash_of_a_sensitive_file(app):
    _alice, iid, _photo = started(app)
    b = _browser(app, "hank2")
    page = b.get(f"/audit/instances/{iid}")
    assert page.status_code == 200
    attachments = page.text.split('id="attachments"', 1)[1].split("</table>", 1)[0]
    assert DIGEST not in page.text and "photo.png" not in attachments, attachments
    assert "●●●●" in attachments
    pdf = b.c.get(f"/audit/instances/{iid}.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.data)
    assert DIGEST[:16] not in text and "photo.png" not in text, text
    # a cleared reader reads them (and the view is logged, as every value shown in clear)
    cleared = _browser(app, "dora").get(f"/audit/instances/{iid}").text
    assert DIGEST in cleared and "photo.png" in cleared


def test_a_sensitive_file_is_not_downloaded_by_a_reader_without_clearance(app):
    alice, iid, photo = started(app)
    hank = Api(app, "hank2")
    assert hank.get(f"/instances/{iid}").status_code == 200  # a reader of the record
    r = hank.get(f"/uploads/{photo}")
    assert r.status_code == 403, r.status_code
    assert PNG not in r.data
    page = _browser(app, "hank2").c.get(f"/attachments/{photo}?inline=1")
    assert page.status_code == 403 and PNG not in page.data
    # its uploader, and a cleared reader, still download it; the cleared reader's view is logged
    for reader in (alice, Api(app, "dora")):
        r = reader.get(f"/uploads/{photo}")
        assert r.data == PNG
        r.close()
    services = app.extensions["services"]
    with services.database.reading() as s:
        from engine.store import audit_search

        rows, _more = audit_search.access_log(s, instance_id=iid, username="dora", limit=50, offset=0)
    assert any("start.photos" in (r.fields or "") for r in rows), [(r.view, r.fields) for r in rows]


def test_whoever_works_on_the_records_open_task_downloads_it_and_is_logged(app):
    """The task page shows an earlier sensitive value in clear to whoever may act on the
    task, its files' thumbnails with it: they download the file, as a view of the task."""
    _alice, iid, photo = started(app)
    with app.extensions["services"].database.writing() as s:
        store.add_user(s, "ivan", "pw-ivan", ["inspectors"], full_name="Ivan")
    r = Api(app, "ivan").get(f"/uploads/{photo}")
    assert r.status_code == 200 and r.data == PNG
    r.close()
    with app.extensions["services"].database.reading() as s:
        from engine.store import audit_search

        rows, _more = audit_search.access_log(s, instance_id=iid, username="ivan", limit=50, offset=0)
    assert [(r.view, r.fields) for r in rows] == [("task", "start.photos")]
