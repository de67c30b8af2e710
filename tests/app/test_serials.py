"""Readable record numbers (流水号, issue 18): ``PREFIX-YYYYMM-NNNN`` per procedure prefix and
local month, without gaps or repeats, covered by the hash chain like everything pages show,
and findable by the number people read out on the phone."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from engine.cli import main
from engine.errors import FormInvalid
from engine.language.procedure import default_serial_prefix
from engine.store.tables import Instance
from tests.helpers.service import add_users, setup, web_app
from tests.web.test_web_ui import Browser

PID = "after-sales-inspection"
START = {"customer": "某市人民医院", "product_name": "监护仪", "serial_no": "SN20260001", "quantity": 1}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _start(wf, sessions, data=START) -> dict:
    with sessions() as s:
        state = wf.start(s, PID, "inspector1", dict(data))
        s.commit()
    return state


def test_numbers_count_per_local_month_without_gaps(sessions):
    # 2026-11-30 23:30 in Beijing is still November; 00:30 on 1 December is December's first.
    clock = Clock(datetime(2026, 11, 30, 15, 30, tzinfo=UTC))
    wf = setup(sessions, ["inspector1"], clock=clock)
    assert _start(wf, sessions)["serial"] == "ASI-202611-0001"
    assert _start(wf, sessions)["serial"] == "ASI-202611-0002"
    clock.at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    first = _start(wf, sessions)
    assert first["serial"] == "ASI-202612-0001"
    # A refused start gives its number back: the next one follows without a gap.
    with pytest.raises(FormInvalid), sessions() as s:
        wf.start(s, PID, "inspector1", {"customer": ""})
    assert _start(wf, sessions)["serial"] == "ASI-202612-0002"
    # The number is in the start event (so the chain covers it) and in the column pages search.
    with sessions() as s:
        assert s.scalar(select(Instance.serial).where(Instance.id == first["id"])) == "ASI-202612-0001"
        events = wf.events(s, first["id"])
    assert events[0]["type"] == "instance:started" and events[0]["data"]["serial"] == "ASI-202612-0001"


def test_default_prefixes_are_the_initials_of_the_id():
    assert default_serial_prefix("after-sales-inspection") == "ASI"
    assert default_serial_prefix("capa") == "CAPA"
    assert default_serial_prefix("customer-return-repair") == "CRR"


def test_concurrent_starts_never_share_a_number(sessions, backend):
    wf = setup(sessions, ["inspector1"])
    got: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(5):
                got.append(_start(wf, sessions)["serial"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(got) == 20 and len(set(got)) == 20
    assert sorted(int(s.rsplit("-", 1)[1]) for s in got) == list(range(1, 21))


@pytest.fixture
def app(db_url, tmp_path, monkeypatch):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1", "applicant1"])
    app.config["STATE"] = _start(app.extensions["workflow"], sessions)
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    yield app
    app.extensions["services"].database.engine.dispose()


def _verify() -> tuple[int, str]:
    out = CliRunner().invoke(main, ["audit", "verify"])
    return out.exit_code, out.output


def test_a_forged_number_is_named_by_verify(app):
    iid = app.config["STATE"]["id"]
    assert _verify()[0] == 0
    engine = app.extensions["services"].database.engine
    with engine.begin() as conn:  # the insider renumbers the record in the column pages search
        conn.execute(update(Instance.__table__).where(Instance.__table__.c.id == iid).values(serial="ASI-202612-9999"))
    code, out = _verify()
    assert code == 1 and f"BROKEN: {iid}" in out and "serial column: stored 'ASI-202612-9999'" in out, out


def test_a_forged_number_in_the_state_is_named_by_verify(app):
    iid = app.config["STATE"]["id"]
    engine = app.extensions["services"].database.engine
    with engine.begin() as conn:
        state = conn.execute(select(Instance.__table__.c.state).where(Instance.__table__.c.id == iid)).scalar_one()
        state["serial"] = "ASI-202612-9999"
        conn.execute(update(Instance.__table__).where(Instance.__table__.c.id == iid).values(state=state))
    code, out = _verify()
    assert code == 1 and "serial: stored 'ASI-202612-9999'" in out, out


def test_pages_show_the_number_and_find_it(app):
    state = app.config["STATE"]
    serial, iid = state["serial"], state["id"]
    b = Browser(app)
    b.login("inspector1", "correct horse 1")
    inbox = b.get("/").text
    assert serial in inbox
    page = b.get(f"/instances/{iid}").text
    assert f'id="record-no">{serial}<' in page
    # typed as people read it out: lower case, spaces around
    r = b.get(f"/search?q=+{serial.lower()}+")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/instances/{iid}")
    # The instances page's box is the same search; its old address forwards there.
    assert 'action="/search"' in b.get("/instances").text
    r = b.get(f"/instances?q={serial}", follow_redirects=True)
    assert r.request.path == f"/instances/{iid}"
    assert serial in b.get("/instances").text
    api = app.test_client().get(f"/api/v1/instances/{iid}", headers=_token(app, "inspector1"))
    assert api.get_json()["serial"] == serial


def test_someone_who_may_not_read_the_record_cannot_find_it(app):
    serial = app.config["STATE"]["serial"]
    b = Browser(app)
    b.login("applicant1", "correct horse 1")  # production: no role in after-sales inspection
    r = b.get(f"/search?q={serial}", follow_redirects=True)
    assert r.request.path == "/search" and f"/instances/{app.config['STATE']['id']}" not in r.text
    assert f"在您可查看的记录中没有找到“{serial}”" in r.text


def _token(app, user):
    r = app.test_client().post("/api/v1/auth/token", json={"username": user, "password": "correct horse 1"})
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}
