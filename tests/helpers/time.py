"""A frozen, movable clock and a config for the procedures of ``tests/data/time``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.app.service import Workflow
from engine.config import Config, load_config
from engine.store import users
from tests.helpers.service import PASSWORD, ROOT

TIME = ROOT / "tests" / "data" / "time"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: Any) -> datetime:
        self.now += timedelta(**kw)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return self.now


def local(text: str) -> datetime:
    """A Shanghai wall-clock time such as '2026-09-30 16:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def time_config(**notifications: Any) -> Config:
    overrides: dict[str, Any] = {
        "paths.procedures": str(TIME / "procedures"), "paths.forms": str(TIME / "forms"),
        "roles": {"clerk": ["clerks"], "chief": ["chiefs"], "director": ["directors"]},
    }
    if notifications:
        overrides["notifications"] = notifications
    return load_config(ROOT / "config.yaml", overrides=overrides)


PEOPLE = {  # name: (groups, manager, email)
    "boss": (["directors"], None, "boss@example.com"),
    "chief1": (["chiefs"], "boss", "chief1@example.com"),
    "clerk1": (["clerks"], "chief1", "clerk1@example.com"),
    "clerk2": (["clerks"], None, None),
}


def time_setup(sessions, clock: Clock, cfg: Config | None = None) -> Workflow:
    wf = Workflow(cfg or time_config(), clock=clock)
    with sessions() as s:
        wf.load_procedures(s)
        for name, (groups, manager, email) in PEOPLE.items():
            users.add_user(s, name, PASSWORD, groups, full_name=name, email=email, manager=manager)
        s.commit()
    return wf
