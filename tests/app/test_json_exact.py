"""JSON columns and API answers go through orjson (engine/json_codec.py, issue 20's cheaper
steps), which reads an integer beyond 64 bits as a float without a word. Tried as a hostile
API client would: values orjson cannot carry exactly must come back exactly as sent, in the
answer, in a later read and in the audit trail, which must still verify. On SQLite and (when
configured) PostgreSQL."""

from __future__ import annotations

import json

import pytest

from engine import json_codec
from engine.store import users as user_store
from tests.app.test_perf_answers import PW, START, _hash, headers

BIG = 123456789012345678901234567890  # beyond 64 bits: orjson would read 1.2345678901234568e+29


@pytest.fixture
def client(db_url, monkeypatch):
    from web import create_app

    monkeypatch.setattr(user_store, "hash_password", _hash)
    app = create_app({"TESTING": True, "WF_OVERRIDES": {"database.url": db_url}, "SECRET_KEY": "test-secret"})
    with app.extensions["services"].database.writing() as session:
        user_store.add_user(session, "inspector1", PW, ["qa-inspectors"], full_name="检验员一")
    yield app
    app.extensions["services"].database.engine.dispose()


def test_a_big_integer_sent_compact_comes_back_exact_everywhere(client):
    app, http = client, client.test_client()
    insp = headers(http, "inspector1")
    # Compact, as a client's JSON library writes it: no ", " or ": " to tell json_codec anything.
    body = json.dumps({"data": {**START, "quantity": BIG, "model": 'say ": " and \\u00e9'}},
                      separators=(",", ":"))
    assert str(BIG) in body and '":' in body
    r = http.post("/api/v1/procedures/after-sales-inspection/instances", data=body,
                  content_type="application/json", headers=insp)
    assert r.status_code == 201, r.json
    assert json.loads(r.get_data())["data"]["start"]["quantity"] == BIG
    read = json.loads(http.get(f"/api/v1/instances/{r.json['id']}", headers=insp).get_data())
    assert read["data"]["start"]["quantity"] == BIG and isinstance(read["data"]["start"]["quantity"], int)
    assert read["data"]["start"]["model"] == 'say ": " and \\u00e9'
    started = next(e for e in read["history"] if e["type"] == "instance:started")
    assert started["data"]["data"]["quantity"] == BIG
    with app.extensions["services"].database.sessions() as s:
        from engine import store

        assert store.verify(s) == []


@pytest.mark.parametrize("value", [
    {"n": BIG, "s": "中文"}, {"n": -BIG}, [BIG, 1.5], {"k": 'x": y', "n": 2 ** 63}, {"lone": "\ud800"},
    {"f": [1e-7, 0.1, -0.0, 1e300]}, {}, {"nested": {"deep": [{"n": 10 ** 19}]}},
])
def test_the_codec_gives_back_what_it_wrote(value):
    text = json_codec.dumps(value)
    back = json_codec.loads(text)
    assert back == value and json.dumps(back) == json.dumps(value)


@pytest.mark.parametrize("text", ['{"n":12345678901234567890123}', '[12345678901234567890123]',
                                  '{"n": 12345678901234567890123}', b'{"n":12345678901234567890123}'])
def test_text_from_elsewhere_keeps_big_integers(text):
    assert json_codec.parse(text) in ({"n": 12345678901234567890123}, [12345678901234567890123])


def test_rows_written_before_orjson_read_the_same():
    """Rows written by the standard library (", " and ": ", ASCII escapes) before this change."""
    old = json.dumps({"客户": "某市人民医院", "n": BIG, "t": [1, 2.5]})
    assert "\\u" in old
    assert json_codec.loads(old) == {"客户": "某市人民医院", "n": BIG, "t": [1, 2.5]}
