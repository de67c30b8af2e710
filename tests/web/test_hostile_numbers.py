"""A number that is no number: NaN and infinity, which Python's JSON reader takes (``NaN``,
``Infinity``) and ``float()`` makes of what a page posts ("nan", "inf", "1e999"). Each is
refused at its field, through the API and the page, and nothing of it is recorded: no NaN
in the stored record, in a computed value or in a KPI. Real database, Flask test client."""

from __future__ import annotations

import json

import pytest

from tests.web.test_computed_web import ITEMS, PW, Api, app, started  # noqa: F401 - the fixture
from tests.web.test_web_ui import Browser

FINITE = "Enter a finite number (NaN and infinity are not numbers a record can hold)"
FINITE_ZH = "请输入有限的数值（NaN 和无穷大不是记录能保存的数）"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_the_api_refuses_nan_and_infinity_at_the_field(app, number):  # noqa: F811
    iid, tid = started(app)
    rater = Api(app, "rater1")
    items = json.dumps(ITEMS, ensure_ascii=False).replace('"score": 55', f'"score": {number}')
    body = f'{{"data": {{"supplier": "甲公司", "items": {items}}}, "password": "{PW["rater1"]}"}}'
    r = rater.c.post(f"/api/v1/tasks/{tid}/complete", data=body.encode(), content_type="application/json",
                     headers={**rater.h, "Accept-Language": "en"})
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.get_json()["errors"] == [{"field": "items.1.score", "message": FINITE}]
    inst = rater.get(f"/instances/{iid}")
    assert "rate" not in inst["data"] and [t["status"] for t in inst["tasks"]] == ["open"]


def test_the_page_refuses_nan_and_infinity_at_the_field(app):  # noqa: F811
    iid, tid = started(app)
    b = Browser(app)
    b.login("rater1", PW["rater1"])
    form = {"f.supplier": "甲公司", "f.items.0.name": "质量", "f.items.0.score": "90", "f.items.0.weight": "2",
            "f.items.1.name": "交付", "f.items.1.score": "55", "f.items.1.weight": "1", "password": PW["rater1"]}
    for raw in ("nan", "inf", "-Infinity", "1e999"):
        r = b.post(f"/tasks/{tid}", {**form, "f.items.1.score": raw})
        assert r.status_code == 422 and FINITE_ZH in r.text, (raw, r.status_code)
    assert "rate" not in Api(app, "rater1").get(f"/instances/{iid}")["data"]
