"""An ordinary account filling the server's disk through ``POST /api/v1/uploads``: each file
within the limit, none ever sent with a form. Unbound files are swept only after a day, so
nothing bounded what one user could pile up meanwhile. Now the files a user has uploaded
that no record holds yet are at most ``uploads.max_pending_bytes`` (default 20 files at the
per-file limit); beyond that the upload is refused (413) at its field, saying how to go on,
and nothing is written to disk. Through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest

from tests.helpers.service import PASSWORD, add_users, web_app

PER_FILE = 1000


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path, **{"uploads.max_bytes": PER_FILE})
    add_users(app.extensions["services"].database.sessions, ["inspector1"])
    yield app
    app.extensions["services"].database.engine.dispose()


def _upload(c, headers, n: int):
    return c.post("/api/v1/uploads", data={"file": (io.BytesIO(b"x" * PER_FILE), f"note{n}.txt")}, headers=headers)


def test_a_user_cannot_pile_up_unsent_uploads(app, tmp_path):
    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    ids = []
    for n in range(20):
        r = _upload(c, headers, n)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    r = _upload(c, headers, 20)
    assert r.status_code == 413, r.get_json()
    body = r.get_json()
    assert body["errors"][0]["field"] == "file"
    assert "not yet part of any record" in body["message"] and "removed after a day" in body["message"], body
    assert len(list((tmp_path / "uploads").iterdir())) == 20


def test_uploads_at_the_same_moment_cannot_pass_the_bound_together(app, tmp_path):
    """Eight uploads at once with room for three: exactly three are stored. On PostgreSQL each
    used to read the same room and take it (the bound passed by about one submission)."""
    import threading

    c = app.test_client()
    token = c.post("/api/v1/auth/token", json={"username": "inspector1", "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    for n in range(17):
        assert _upload(c, headers, n).status_code == 201
    gate = threading.Barrier(8)
    statuses: list[int] = []

    def one(n: int) -> None:
        client = app.test_client()
        gate.wait()
        statuses.append(_upload(client, headers, n).status_code)

    threads = [threading.Thread(target=one, args=(100 + n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [201] * 3 + [413] * 5, statuses
    assert len(list((tmp_path / "uploads").iterdir())) == 20
