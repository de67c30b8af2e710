"""``wf audit export --from 2026-01-01 --to 2026-03-31`` (operations.md's Q1 example) cuts the
days at local midnight, as the audit pages and GET /audit/export.jsonl do. It cut them at UTC
midnight: its Q1 missed 1 January before 08:00 Beijing time and took 1 April before 08:00."""

from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import main
from tests.helpers.time import TIME, Clock, local, time_setup


def test_cli_audit_export_dates_are_local_days(sessions, db_url, tmp_path):
    clock = Clock(local("2026-01-01 07:30"))  # 2025-12-31 23:30 UTC: a Q1 record in Shanghai
    wf = time_setup(sessions, clock)
    with sessions() as s:
        in_q1 = wf.start(s, "timed-steps", "clerk1", {"kind": "d"})["id"]
        s.commit()
    clock.set(local("2026-04-01 07:00"))  # 2026-03-31 23:00 UTC: a Q2 record in Shanghai
    with sessions() as s:
        in_q2 = wf.start(s, "timed-steps", "clerk1", {"kind": "d"})["id"]
        s.commit()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {{url: '{db_url}'}}\n"
        f"paths: {{procedures: '{TIME / 'procedures'}', forms: '{TIME / 'forms'}'}}\n"
        "roles: {clerk: [clerks], chief: [chiefs], director: [directors]}\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["--config", str(cfg), "audit", "export", "--from", "2026-01-01",
                                  "--to", "2026-03-31"])
    assert r.exit_code == 0, r.output
    exported = {json.loads(line).get("instance_id") for line in r.output.splitlines() if line.strip()}
    assert in_q1 in exported
    assert in_q2 not in exported
