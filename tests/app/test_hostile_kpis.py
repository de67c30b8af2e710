"""Hostile pass on the KPI dashboards from the quality manager's side: what the dashboard
shows after the procedure changed under its records."""

from __future__ import annotations

import shutil
from datetime import timedelta

from engine.app import kpis as kpi_app
from engine.app.access import Reader
from engine.app.ledgers import LedgerFilters
from engine.app.services import open_services
from engine.config import load_config
from engine.runtime.machine import open_tasks
from engine.store import users
from tests.app.test_records_kpis import OVERRIDES, RECORDS, ROOT, _fill

AUDITOR = Reader("aud", frozenset({"auditors"}), auditor=True, admin=False, cleared=False)


def test_a_step_renamed_in_a_later_version_keeps_its_title_on_the_dashboard(db_url, tmp_path):
    root = tmp_path / "records"
    shutil.copytree(RECORDS, root)
    cfg = load_config(ROOT / "config.yaml", overrides={
        **OVERRIDES, "paths.procedures": str(root / "procedures"), "paths.forms": str(root / "forms"),
        "database.url": db_url})
    services = open_services(cfg)
    try:
        wf = services.workflow
        _fill(wf, services.database.sessions)
        # Version 2 renames the approval step "verify" (投诉核实) to "review" (投诉复核).
        path = root / "procedures" / "complaint-demo.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("  verify:\n", "  review:\n").replace("next: verify", "next: review")
                        .replace("投诉核实", "投诉复核").replace("verify.decision", "review.decision"), encoding="utf-8")
        with services.database.writing() as s:
            assert any(r.created for r in wf.load_procedures(s))
        now = services.now()
        d = kpi_app.dashboard(services, AUDITOR, "complaint-demo", since=now - timedelta(days=30),
                              until=now + timedelta(days=1), period="month")
        titles = {st["step"]: st["title"] for st in d.steps}
        # The records' tasks of the old step are counted under it, titled as their version
        # named it (not the bare id "verify").
        assert titles == {"register": "投诉登记", "verify": "投诉核实"}
    finally:
        services.database.engine.dispose()


PASS_PROC = """id: final-check
title: 终检（测试）
roles:
  quality: 质管部
start: {roles: [quality], step: inspect}
kpis:
  first_pass: {field: inspect.verdict, pass: 合格}
steps:
  inspect:
    title: 检验
    role: quality
    form: final-check-form
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""
PASS_FORM = """id: final-check-form
title: 终检记录
schema:
  type: object
  required: [verdict]
  properties:
    verdict: {type: string, title: 结论, enum: [合格, 不合格]}
"""


def test_records_are_judged_first_pass_by_the_pass_of_the_version_they_ran_under(db_url, tmp_path):
    """Version 2 renames the passing answer 合格 to 通过 (form and ``pass:``): a record of
    version 1 answered 合格 still passed, and the dashboard counts it so."""
    (tmp_path / "procedures").mkdir()
    (tmp_path / "forms").mkdir()
    proc, form = tmp_path / "procedures" / "final-check.yaml", tmp_path / "forms" / "final-check-form.yaml"
    proc.write_text(PASS_PROC, encoding="utf-8")
    form.write_text(PASS_FORM, encoding="utf-8")
    cfg = load_config(ROOT / "config.yaml", overrides={
        **OVERRIDES, "paths.procedures": str(tmp_path / "procedures"), "paths.forms": str(tmp_path / "forms"),
        "database.url": db_url})
    services = open_services(cfg)
    try:
        wf = services.workflow
        with services.database.writing() as s:
            users.add_user(s, "q1", "pw", ["quality-dept"], full_name="质管员")

        def record(verdict: str) -> str:
            with services.database.writing() as s:
                st = wf.start(s, "final-check", "q1")
                wf.complete_task(s, f"{st['id']}.{open_tasks(st)[0]['id']}", "q1", {"verdict": verdict})
                return st["id"]

        passed = {record("合格")}
        record("不合格")
        proc.write_text(PASS_PROC.replace("pass: 合格", "pass: 通过"), encoding="utf-8")
        form.write_text(PASS_FORM.replace("[合格, 不合格]", "[通过, 不通过]"), encoding="utf-8")
        with services.database.writing() as s:
            assert any(r.created for r in wf.load_procedures(s))
        passed.add(record("通过"))
        now = services.now()
        since, until = now - timedelta(days=30), now + timedelta(days=1)
        d = kpi_app.dashboard(services, AUDITOR, "final-check", since=since, until=until, period="month")
        assert d.first_pass_total == (2, 3)
        # The records behind the figure, as its bar links to them.
        found = kpi_app.drill_down(services, AUDITOR, "final-check", since=since, until=until, period="month",
                                   what="first_pass", filters=LedgerFilters())
        assert {r["id"] for r in found.page.rows} == passed
    finally:
        services.database.engine.dispose()
