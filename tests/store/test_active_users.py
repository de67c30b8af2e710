"""``users.active_among``: which names a person field may hold (active users only), asked
one prepared statement per name up to ``ACTIVE_ONE_BY_ONE`` names and as one IN list beyond."""

from __future__ import annotations

import pytest

from engine.store import users


@pytest.fixture
def people(session):
    for i in range(25):
        users.add_user(session, f"u{i:02d}", "pw-not-checked-here", [], full_name=f"用户{i}")
    users.set_active(session, "u03", False)
    session.commit()
    return session


@pytest.mark.parametrize("count", [1, 3, users.ACTIVE_ONE_BY_ONE, users.ACTIVE_ONE_BY_ONE + 4])
def test_only_active_users_are_found_however_many_are_asked(people, count):
    asked = [f"u{i:02d}" for i in range(count)] + ["nobody", "u03", "", "U01"]
    expected = {f"u{i:02d}" for i in range(count)} - {"u03"}
    assert users.active_among(people, asked) == expected
    assert users.active_among(people, []) == set()
