"""The procedures a quality engineer wrote from docs/ alone (tests/data/docs_walkthrough: an
instrument calibration started every month, a supplier 8D with a 会签, 退回, signatures, working-day
deadlines, a ledger and KPIs) stay valid, and their answers files take every branch.

They are test data, not the shipped library: what they prove is that the language as documented
expresses such procedures; tests/web/test_docs_walkthrough.py runs them on the pages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from engine.cli import main
from engine.config import load_config
from engine.language.calendar import Calendar
from engine.language.procedure import load_library
from engine.runtime.coverage import declared, describe, visited
from engine.runtime.simulation import simulate

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data" / "docs_walkthrough"
ANSWERS = sorted((DATA / "answers").glob("*.yaml"))
CFG = load_config(ROOT / "config.yaml")
CALENDARS = {n: Calendar.from_config(n, c) for n, c in CFG.get("calendars").items()}
LIB = load_library([DATA / "procedures", DATA / "forms"], config=CFG)


def test_wf_validate_finds_no_problem(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", str(DATA / "procedures"), str(DATA / "forms")])
    assert result.exit_code == 0, result.output
    assert "OK: 2 procedure(s)" in result.output
    assert sorted(LIB.procedures) == ["instrument-calibration", "supplier-8d"]


@pytest.mark.parametrize("answers", ANSWERS, ids=[p.stem for p in ANSWERS])
def test_each_answers_file_takes_its_path(answers):
    script = yaml.safe_load(answers.read_text(encoding="utf-8"))
    sim = simulate(LIB.procedures[script["procedure"]], script, calendars=CALENDARS)
    assert sim.path == script["expect"]["path"]
    assert sim.outcome == script["expect"]["outcome"]
    assert sim.state["status"] == "completed"


@pytest.mark.parametrize("proc_id", ["instrument-calibration", "supplier-8d"])
def test_every_declared_branch_is_visited(proc_id):
    proc = LIB.procedures[proc_id]
    seen: set = set()
    for path in ANSWERS:
        script = yaml.safe_load(path.read_text(encoding="utf-8"))
        if script["procedure"] == proc_id:
            seen |= visited(proc, simulate(proc, script, calendars=CALENDARS).events)
    missing = sorted(declared(proc) - seen)
    assert not missing, "; ".join(describe(m) for m in missing)


def _wf_simulate(monkeypatch, procedure: str, answers: str):
    """`wf simulate` as docs/ tell it, from the repository, the forms named by WF_FORMS_DIR."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        main, ["simulate", str(DATA / "procedures" / f"{procedure}.yaml"),
               "--answers", str(DATA / "answers" / f"{answers}.yaml")],
        env={"WF_FORMS_DIR": str(DATA / "forms")})
    assert result.exit_code == 0, result.output
    return result


def test_wf_simulate_as_the_docs_tell(monkeypatch):
    """The forms are not in the configured folder: WF_FORMS_DIR points wf simulate at them."""
    result = _wf_simulate(monkeypatch, "supplier-8d", "scar-serious")
    assert "task:returned step=verify" in result.output
    assert "'level': 2, 'to': 'quality_manager'" in result.output


def test_the_monthly_schedule_keeps_to_working_days(monkeypatch):
    """1 October 2026 is National Day: the start moves to the first working day after the
    holidays, Thursday 8 October; 1 November is a Sunday, so Monday 2 November."""
    result = _wf_simulate(monkeypatch, "instrument-calibration", "calibration-pass")
    line = next(x for x in result.output.splitlines() if "schedule monthly" in x)
    assert "next 2026-09-01 08:30, 2026-10-08 08:30, 2026-11-02 08:30" in line, line
