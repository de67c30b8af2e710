"""Factories shared by the service, concurrency and durability tests.

Users are real (``users.add_user``: scrypt hashes, at the cheap work factor the test session
sets in ``tests/conftest.py``). ``play`` drives one answers file (``tests/data/answers/*.yaml``) through the service,
committing every use case in its own transaction, exactly as a web request would.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from sqlalchemy import select

from engine.app.service import Workflow
from engine.config import Config, load_config
from engine.runtime.machine import open_tasks
from engine.store import Event, Instance, Task, users

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = Path(__file__).resolve().parents[1] / "data" / "answers"
PASSWORD = "correct horse 1"

# Users of the answers files and the groups that give them their roles (config.yaml: roles).
USERS: dict[str, tuple[str, list[str]]] = {
    "inspector1": ("检验员一", ["qa-inspectors"]),
    "supervisor1": ("质量主管一", ["qa-supervisors"]),
    "tech1": ("维修员一", ["repair-technicians"]),
    "lead1": ("维修负责人一", ["repair-technicians"]),
    "applicant1": ("申请人一", ["production"]),
    "acceptor1": ("验收员一", ["qa-inspectors"]),
    "supplier1": ("供方一", ["suppliers"]),
}


def config() -> Config:
    """The shipped config.yaml (procedures/ and forms/ of the repository)."""
    return load_config(ROOT / "config.yaml")


def answers(name: str) -> dict[str, Any]:
    """An answer file, parsed once per test session (a copy: callers may change it)."""
    return copy.deepcopy(_parsed(name))


@functools.cache
def _parsed(name: str) -> dict[str, Any]:
    return yaml.safe_load((ANSWERS / f"{name}.yaml").read_text(encoding="utf-8"))


def web_app(db_url: str, tmp_path: Path, **overrides: Any) -> Any:
    """The web app on ``db_url`` in Chinese, uploads under ``tmp_path``; ``overrides`` are
    further config keys (``"paths.procedures": ...``)."""
    from web import create_app

    return create_app({"TESTING": True, "WF_OVERRIDES": {
        "database.url": db_url, "paths.uploads": str(tmp_path / "uploads"), "locale": "zh", **overrides}})


@pytest.fixture(name="app")
def inspector_app(db_url: str, tmp_path: Path) -> Any:
    """The web app with one user, ``inspector1`` (a fixture the web tests import as ``app``)."""
    app = web_app(db_url, tmp_path)
    add_users(app.extensions["services"].database.sessions, ["inspector1"])
    yield app
    app.extensions["services"].database.engine.dispose()


def add_users(sessions: sessionmaker[Session], names: list[str] | None = None) -> None:
    """Create the named users (default: all of ``USERS``) with ``PASSWORD``, in one commit."""
    with sessions() as s:
        for name in names or list(USERS):
            full_name, groups = USERS[name]
            users.add_user(s, name, PASSWORD, groups, full_name=full_name)
        s.commit()


def setup(sessions: sessionmaker[Session], names: list[str] | None = None,
          *, clock: Callable | None = None, cfg: Config | None = None) -> Workflow:
    """A ``Workflow`` on the shipped config with procedures loaded and users created."""
    wf = Workflow(cfg or config(), clock=clock) if clock else Workflow(cfg or config())
    with sessions() as s:
        wf.load_procedures(s)
        s.commit()
    add_users(sessions, names)
    return wf


def open_task(state: Mapping[str, Any], step: str) -> str:
    """The global id of the open task of ``step`` (fails the test if there is none)."""
    found = [t for t in open_tasks(state) if t["step"] == step]
    assert found, f"no open task for step {step!r}; open: {[t['step'] for t in open_tasks(state)]}"
    return f"{state['id']}.{found[0]['id']}"


def answer(wf: Workflow, s: Session, state: Mapping[str, Any], entry: Mapping[str, Any],
           password: str | None = PASSWORD) -> dict:
    """Answer one ``steps`` entry of an answers file; signs with ``password`` where needed."""
    rt = wf.runtime(s, s.get(Instance, state["id"]).version_id)
    step = rt.procedure.steps[entry["step"]]
    task_id = open_task(state, entry["step"])
    pw = password if step.signature else None
    if step.type == "approval":
        return wf.decide(s, task_id, entry["user"], approve=entry.get("decision", "approve") == "approve",
                         comment=entry.get("comment", ""), data=entry.get("data") or {}, password=pw)
    return wf.complete_task(s, task_id, entry["user"], entry.get("data") or {}, password=pw)


def play(wf: Workflow, sessions: sessionmaker[Session], script: Mapping[str, Any],
         *, upto: int | None = None) -> dict:
    """Start the script's instance and answer its steps (the first ``upto``), one commit each."""
    with sessions() as s:
        state = wf.start(s, script["procedure"], script["start"]["user"], script["start"]["data"])
        s.commit()
    for entry in list(script["steps"])[:upto]:
        with sessions() as s:
            state = answer(wf, s, state, entry)
            s.commit()
    return state


def check_consistent(s: Session) -> None:
    """No half-written step: each instance's state matches its row, its task rows and its events."""
    for row in s.scalars(select(Instance)):
        assert row.state["rev"] == row.rev, row.id
        assert row.state["status"] == row.status.value, row.id
        rows = {t.task_id: t for t in s.scalars(select(Task).where(Task.instance_id == row.id))}
        assert set(rows) == set(row.state["tasks"]), row.id
        for tid, t in row.state["tasks"].items():
            assert rows[tid].status.value == t["status"], (row.id, tid)
            assert rows[tid].assignee == t["assignee"], (row.id, tid)
        seqs = list(s.scalars(select(Event.seq).where(Event.instance_id == row.id).order_by(Event.seq)))
        assert seqs == list(range(1, len(seqs) + 1)), row.id
        created = sum(1 for e in s.scalars(select(Event.type).where(Event.instance_id == row.id))
                      if e == "task:created")
        assert created == len(row.state["tasks"]), row.id


def race_in_process(db_url: str, task_id: str, username: str, data: dict, barrier: Any,
                    results: Any) -> None:
    """Child-process body of the multi-process race: submit ``task_id`` after ``barrier``."""
    from engine.errors import Conflict
    from engine.store import make_engine, session_factory

    engine = make_engine(db_url)
    try:
        sessions = session_factory(engine)
        wf = Workflow(config())
        with sessions() as s:  # warm up: compile the procedure before the race
            wf.runtime(s, s.get(Instance, task_id.rpartition(".")[0]).version_id)
            s.rollback()
        barrier.wait(timeout=60)
        with sessions() as s:
            try:
                wf.complete_task(s, task_id, username, data)
                s.commit()
                results.put((username, "won", ""))
            except Conflict as exc:
                s.rollback()
                results.put((username, type(exc).__name__, exc.message))
    except BaseException as exc:  # report anything else to the parent, never hang it
        results.put((username, "error", repr(exc)))
    finally:
        engine.dispose()
