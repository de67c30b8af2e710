"""Hostile pass on the KPI dashboards from the quality manager's side: what the dashboard
shows after the procedure changed under its records."""

from __future__ import annotations

import shutil
from datetime import timedelta

from engine.app import kpis as kpi_app
from engine.app.access import Reader
from engine.app.services import open_services
from engine.config import load_config
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
