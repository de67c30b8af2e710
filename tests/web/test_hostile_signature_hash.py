"""A signature's ``data_hash`` is the SHA-256 of the record's data when it was signed: given to
a reader who sees a sensitive value masked, with every other value of that data in clear,
it confirms a guessed value offline (a mobile number, 10^8 guesses, is minutes of hashing),
the same leak as a sensitive file's hash on the trail. A reader without clearance gets the
signature without it (who signed, when, the meaning); cleared readers and the check of the
record (``wf audit verify``) keep it. Through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from engine.runtime.signing import data_hash
from engine.store import users as user_store
from tests.helpers.service import PASSWORD, add_users, answers, play, web_app
from tests.web.test_masking_operator_views import PERSON, PHONE, PID, token


def _signatures(answer: dict) -> list[dict]:
    found = [e["data"]["signature"] for e in answer.get("history") or [] if (e["data"] or {}).get("signature")]
    tasks = answer["tasks"] if isinstance(answer["tasks"], list) else list(answer["tasks"].values())
    return found + [t["signed"] for t in tasks if isinstance(t.get("signed"), dict)]


def test_a_signature_hash_does_not_confirm_a_guessed_masked_value(db_url, tmp_path):
    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "insp2", PASSWORD, ["qa-inspectors"], full_name="检验员二")
        user_store.add_user(s, "officer", "pw-officer", ["qa-supervisors", "data-officers"], full_name="数据专员")
    state = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"), upto=5)  # up to the signed review
    c = app.test_client()
    seen = c.get(f"/api/v1/instances/{state['id']}", headers=token(app, "insp2")).get_json()
    events = c.get(f"/api/v1/instances/{state['id']}/events", headers=token(app, "insp2")).get_json()["items"]
    assert seen["data"]["start"]["contact_phone"] == "●●●●"
    # the attacker's guess, put into what they were shown
    guessed = json.loads(json.dumps(seen["data"]))
    guessed["start"].update(contact_phone=PHONE, contact_person=PERSON)
    given = _signatures(seen) + _signatures({"history": events, "tasks": []})
    assert len(given) == 6  # inspect's and review's: in the tasks, the history and the events
    hashes = {s.get("data_hash") for s in given}
    assert data_hash(guessed) not in hashes
    assert hashes <= {"●●●●", None}, hashes
    # a cleared reader keeps the hash, which matches the data they see
    cleared = c.get(f"/api/v1/instances/{state['id']}", headers=token(app, "officer", "pw-officer")).get_json()
    assert data_hash(cleared["data"]) in {s.get("data_hash") for s in _signatures(cleared)}
    app.extensions["services"].database.engine.dispose()


def test_an_event_hash_does_not_confirm_a_guessed_masked_value(db_url, tmp_path):
    """The chain's hash of an event is the SHA-256 of the event as stored (no key): the
    events API gave it whole, and the dossier its first 12 hex digits (48 bits), beside the
    rest of the event in clear. A reader without clearance gets the hash of an event with a
    masked value masked (and the next event's ``prev_hash``, which repeats it)."""
    from engine.store.audit import event_hash
    from tests.web.test_web_ui import Browser

    app = web_app(db_url, tmp_path)
    sessions = app.extensions["services"].database.sessions
    add_users(sessions, ["inspector1", "supervisor1"])
    with sessions.begin() as s:
        user_store.add_user(s, "insp2", PASSWORD, ["qa-inspectors"], full_name="检验员二")
    iid = play(app.extensions["workflow"], sessions, answers(f"{PID}--fail"), upto=1)["id"]
    c = app.test_client()
    events = c.get(f"/api/v1/instances/{iid}/events", headers=token(app, "insp2")).get_json()["items"]
    started = events[0]
    assert started["type"] == "instance:started" and started["data"]["data"]["contact_phone"] == "●●●●"
    data = json.loads(json.dumps(started["data"]))
    data["data"].update(contact_phone=PHONE, contact_person=PERSON)
    guess = event_hash(instance_id=iid, seq=started["seq"], type=started["type"], step=started["step"],
                       task=started["task"], actor=started["actor"], at=started["at"], data=data,
                       prev_hash=started["prev_hash"])
    assert guess not in {e["hash"] for e in events} | {e["prev_hash"] for e in events}
    assert started["hash"] == "●●●●" and events[1]["prev_hash"] == "●●●●"
    assert events[1]["hash"] != "●●●●"  # an event without a masked value keeps its hash
    b = Browser(app)
    b.login("insp2", PASSWORD)
    dossier = b.get(f"/audit/instances/{iid}")
    assert dossier.status_code == 200 and guess[:12] not in dossier.text
    app.extensions["services"].database.engine.dispose()
