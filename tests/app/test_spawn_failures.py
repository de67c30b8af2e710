"""A spawn whose child refuses its start data never blocks the person who completed the step:
the failure is recorded and the worker opens the child once the child procedure accepts it."""

from __future__ import annotations

from engine import store
from engine.app import scheduler
from engine.app.database import Database
from engine.app.service import SPAWN_RULE, Workflow
from engine.app.worker import Worker
from engine.config import load_config
from engine.store import timekeeping as tk
from engine.store import users
from tests.helpers.service import PASSWORD, ROOT, open_task

PARENT = """id: parent
title: 登记
roles: {clerk: 服务专员}
start: {roles: [clerk], step: register}
steps:
  register: {title: 登记, role: clerk, form: coded, next: open_child}
  open_child:
    type: spawn
    title: 发起处理
    procedure: child
    with: {code: register.code}
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""
CHILD = """id: child
title: 处理
roles: {clerk: 服务专员}
start: {roles: [clerk], step: handle, form: strict-code}
steps:
  handle: {title: 处理, role: clerk, form: coded, next: done}
  done: {type: end, title: 结束, outcome: 完成}
"""
FORM = """id: {id}
title: 编码
schema:
  type: object
  required: [code]
  properties:
    code: {{type: string, title: 编码, pattern: "{pattern}"}}
"""


def _write(tmp_path, pattern: str) -> None:
    (tmp_path / "procedures").mkdir(exist_ok=True)
    (tmp_path / "forms").mkdir(exist_ok=True)
    (tmp_path / "procedures" / "parent.yaml").write_text(PARENT, encoding="utf-8")
    (tmp_path / "procedures" / "child.yaml").write_text(CHILD, encoding="utf-8")
    (tmp_path / "forms" / "coded.yaml").write_text(FORM.format(id="coded", pattern=".*"), encoding="utf-8")
    (tmp_path / "forms" / "strict-code.yaml").write_text(
        FORM.format(id="strict-code", pattern=pattern), encoding="utf-8")


def test_a_failing_spawn_does_not_block_the_submitter_and_is_retried(engine, sessions, tmp_path):
    _write(tmp_path, "^[A-Z]+$")
    cfg = load_config(ROOT / "config.yaml", overrides={
        "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "roles": {"clerk": ["clerks"]}})
    wf = Workflow(cfg)
    with sessions() as s:
        wf.load_procedures(s)
        users.add_user(s, "clerk1", PASSWORD, ["clerks"], full_name="专员甲")
        s.commit()
    with sessions() as s:
        state = wf.start(s, "parent", "clerk1", {})
        # The clerk's submission goes through although the child's start form refuses "abc".
        done = wf.complete_task(s, open_task(state, "register"), "clerk1", {"code": "abc"})
        s.commit()
    assert done["status"] == "completed"
    with sessions() as s:
        assert store.spawned_from(s, done["id"]) == []
        [failed] = tk.failed_firings(s, SPAWN_RULE, 10)
        assert failed.subject == f"{done['id']}:0" and failed.procedure_id == "child"
        assert "could not start 'child'" in failed.error
    # Still refused: retried, still recorded, nothing opened.
    assert scheduler.retry_spawns(wf, Database(engine)) == 0
    # The child procedure is corrected; the worker's next pass opens the linked instance.
    _write(tmp_path, "^[a-zA-Z]+$")
    with sessions() as s:
        wf.load_procedures(s)
        s.commit()
    assert Worker(wf, sessions).run_once().started >= 1
    with sessions() as s:
        [child] = store.spawned_from(s, done["id"])
        assert child.procedure_id == "child"
        assert tk.failed_firings(s, SPAWN_RULE, 10) == []
