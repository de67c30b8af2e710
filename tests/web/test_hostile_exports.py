"""A hostile pass over what people take away: the dossier page and PDF, the ledger exports
and the search, fed with text an ordinary operator can type (very long unbroken strings,
numbers, marks), through the Flask test client on a real database."""

from __future__ import annotations

import pytest

from engine.store import users as user_store
from tests.helpers.pdf import pdf_text
from tests.helpers.service import add_users, answers, play, web_app
from tests.web.test_audit_web import login

PID = "after-sales-inspection"


@pytest.fixture
def app(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "aud", "pw-aud", ["auditors"], full_name="审计员")
    yield app
    app.extensions["services"].database.engine.dispose()


LONG = "血氧读数" + "跳变" * 3000 + "END"  # 6,007 characters, no space to break at
WORDS = "word " * 2000


def test_a_very_long_text_in_a_table_cell_and_a_comment_prints_in_the_dossier_pdf(app):
    """An inspector pastes a long log into a 实测值 cell and the reviewer a long comment: the
    dossier PDF failed with a 500 ("The row with index 1 is too high and cannot be rendered
    on a single page"). The row now runs on over as many pages as it needs, nothing left out."""
    script = answers(f"{PID}--fail")
    script["steps"][1]["data"]["items"][0]["measured"] = LONG
    script["steps"][1]["data"]["items"][1]["remark"] = WORDS
    review = next(e for e in script["steps"] if e["step"] == "review")
    review["comment"] = "同意" * 2500
    done = play(app.extensions["workflow"], app.extensions["services"].database.sessions, script)
    b = login(app, "aud")
    assert b.c.get(f"/audit/instances/{done['id']}").status_code == 200
    r = b.c.get(f"/audit/instances/{done['id']}.pdf")
    assert r.status_code == 200, r.text[:2000]
    text = pdf_text(r.data).replace("\n", "")
    assert "血氧读数跳变跳变" in text and "跳变END" in text  # the start and the end of the cell
    assert text.count("跳变") >= 3000
    assert text.count("同意") >= 2500
