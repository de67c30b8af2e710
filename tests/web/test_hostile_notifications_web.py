"""The notifications page attacked by an ordinary user, through real HTTP: another user's
notification ids, and "Mark selected read" with nothing ticked."""

from __future__ import annotations

import re

from tests.web.test_web_time import _start, app, clock  # noqa: F401 - fixtures
from tests.web.test_web_ui import Browser


def _unread(page: str) -> int:
    found = re.search(r'id="unread-count">(\d+)<', page)
    return int(found.group(1)) if found else 0


def test_mark_selected_with_nothing_ticked_marks_nothing(app):  # noqa: F811
    """"Mark selected read" with no box ticked posted no id, which read as "all": every
    unread notification was marked read by a click that chose none. Now it says to tick
    some (or use "Mark all read"), and an id of someone else's notification marks nothing."""
    _start(app)
    _start(app)
    b = Browser(app)
    b.login("clerk1")
    page = b.get("/notifications").text
    assert _unread(page) == 2 and 'name="selected"' in page
    r = b.post("/notifications/read", {"selected": "1"})
    assert r.status_code == 302
    page = b.get("/notifications").text
    assert _unread(page) == 2
    assert "Tick the notifications to mark read" in page
    # a forged id that is no number is no choice of all either
    b.post("/notifications/read", {"selected": "1", "id": ["abc"]})
    assert _unread(b.get("/notifications").text) == 2
    # someone else's notification: the chief's ids are not the clerk's to mark
    chief = Browser(app)
    chief.login("chief1")
    chief_ids = re.findall(r'name="id" value="(\d+)"', chief.get("/notifications").text)
    mine = re.findall(r'name="id" value="(\d+)"', b.get("/notifications").text)
    for nid in chief_ids or [str(int(max(mine)) + 1000)]:
        b.post("/notifications/read", {"selected": "1", "id": [nid]})
    assert _unread(b.get("/notifications").text) == 2
    b.post("/notifications/read", {"selected": "1", "id": mine[:1]})
    assert _unread(b.get("/notifications").text) == 1
    b.post("/notifications/read", {})  # "Mark all read"
    assert _unread(b.get("/notifications").text) == 0
