"""Every branch of every shipped procedure, driven by the scripted answers in tests/data/answers."""

from __future__ import annotations

import copy
import functools
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
ANSWERS = sorted((ROOT / "tests" / "data" / "answers").glob("*.yaml"))
LIB = load_library([ROOT / "procedures", ROOT / "forms"])
CFG = load_config(ROOT / "config.yaml")
CALENDARS = {n: Calendar.from_config(n, c) for n, c in CFG.get("calendars").items()}


def test_library_is_valid():
    assert LIB.problems == []
    assert {"after-sales-inspection", "repair-process-inspection", "product-acceptance-inspection"} <= set(LIB.procedures)


@pytest.mark.parametrize("proc_id", sorted(LIB.procedures))
def test_every_role_is_mapped_to_a_group(proc_id):
    for role in LIB.procedures[proc_id].roles:
        assert CFG.groups_for_role(proc_id, role), f"{proc_id}: role '{role}' has no group in config.yaml"


@pytest.mark.parametrize("proc_id", sorted(LIB.procedures))
def test_every_step_is_covered_by_some_answer_file(proc_id):
    seen: set[str] = set()
    for path in ANSWERS:
        script = _parsed(path)
        if script["procedure"] == proc_id:
            seen.update(script["expect"]["path"])
    assert set(LIB.procedures[proc_id].steps) - seen == set()


@functools.cache
def _parsed(path: Path) -> dict:
    """An answers file, parsed once per test process: the per-procedure tests each read all
    of them, and parsing 172 files for each of 76 tests cost more than the tests themselves."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _scripts(proc_id: str) -> list[dict]:
    """The answers files of ``proc_id`` (copies: a simulation may not change the parsed ones)."""
    return [copy.deepcopy(script) for script in map(_parsed, ANSWERS) if script["procedure"] == proc_id]


@pytest.mark.parametrize("proc_id", sorted(LIB.procedures))
def test_every_declared_branch_is_visited_by_some_answer_file(proc_id):
    """Every decision outcome, every rejection loop and every deadline miss/escalation the
    procedure declares is taken by at least one of its answer files."""
    proc = LIB.procedures[proc_id]
    scripts = _scripts(proc_id)
    assert scripts, f"{proc_id}: no answer file in tests/data/answers/"
    seen = set()
    for script in scripts:
        seen |= visited(proc, simulate(proc, script, calendars=CALENDARS).events)
    missing = sorted(declared(proc) - seen)
    assert not missing, f"{proc_id}: " + "; ".join(describe(m) for m in missing)


@pytest.mark.parametrize("answers", ANSWERS, ids=[p.stem for p in ANSWERS])
def test_branch(answers):
    script = yaml.safe_load(answers.read_text(encoding="utf-8"))
    proc = LIB.procedures[script["procedure"]]
    sim = simulate(proc, script, calendars=CALENDARS, library=LIB.procedures)
    assert sim.path == script["expect"]["path"]
    assert sim.outcome == script["expect"]["outcome"]
    # a withdrawn instance (撤回) ends cancelled, and its answer file says so
    assert sim.state["status"] == script["expect"].get("status", "completed")
    # Every linked instance a spawn step opens starts with the data it is handed.
    assert [(sp.step, sp.error) for sp in sim.spawned if sp.error] == []


def test_cli_simulate_prints_path_tasks_and_events(monkeypatch):
    monkeypatch.chdir(ROOT)
    answers = ROOT / "tests/data/answers/after-sales-inspection--review-reject.yaml"
    result = CliRunner().invoke(main, ["simulate", "after-sales-inspection", "--answers", str(answers)])
    assert result.exit_code == 0, result.output
    assert "path: receive → inspect" in result.stdout
    assert "task:rejected" in result.stdout and "due " in result.stdout


def test_cli_simulate_reports_a_wrong_expectation(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    script = yaml.safe_load((ROOT / "tests/data/answers/after-sales-inspection--fail.yaml").read_text(encoding="utf-8"))
    script["expect"]["outcome"] = "不存在"
    bad = tmp_path / "a.yaml"
    bad.write_text(yaml.safe_dump(script, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", "after-sales-inspection", "--answers", str(bad)])
    assert result.exit_code == 1
    assert "expected outcome '不存在'" in result.stderr


def test_conditional_fields_are_required_only_when_shown():
    form = LIB.forms["after-sales-inspection-result"]
    row = {"item": "外观", "method": "目视", "requirement": "无划痕", "result": "合格"}
    base = {"items": [row], "instrument": "卡尺", "inspector": "ins1", "inspected_at": "2026-11-03T10:00"}
    assert form.validate({**base, "verdict": "合格"}) == []
    errors = form.validate({**base, "verdict": "不合格"})
    assert [e["field"] for e in errors] == ["defect"]
    assert form.clean({**base, "verdict": "合格", "defect": "x"}).get("defect") is None


@pytest.mark.parametrize("proc_id", sorted(LIB.procedures))
def test_spawned_procedures_exist_and_take_the_data_given(proc_id):
    """A spawn step opens a shipped procedure, and every value it passes is a field of that
    procedure's start form (the new instance's start data is validated like any other)."""
    for step in LIB.procedures[proc_id].steps.values():
        if step.type != "spawn":
            continue
        assert step.procedure in LIB.procedures, f"{proc_id}.{step.id}: no procedure '{step.procedure}'"
        target = LIB.procedures[step.procedure]
        fields = set(LIB.forms[target.start_form].schema["properties"]) if target.start_form else set()
        passed = {name for name, _ in step.with_}
        assert passed <= fields, f"{proc_id}.{step.id}: {sorted(passed - fields)} not in {target.start_form}"
        required = set(LIB.forms[target.start_form].schema.get("required", [])) if target.start_form else set()
        assert required <= passed, f"{proc_id}.{step.id}: start form {target.start_form} needs {sorted(required - passed)}"


@pytest.mark.parametrize("answers", ANSWERS, ids=[p.stem for p in ANSWERS])
def test_spawned_start_data_is_valid(answers):
    """What a spawn step passes on is accepted by the start form of the procedure it opens
    (the service starts the linked instance in the same transaction; invalid data would
    refuse the whole step)."""
    script = yaml.safe_load(answers.read_text(encoding="utf-8"))
    proc = LIB.procedures[script["procedure"]]
    sim = simulate(proc, script, calendars=CALENDARS)
    for e in sim.events:
        if e["type"] != "spawn:requested":
            continue
        target = LIB.procedures[e["data"]["procedure"]]
        form = LIB.forms[target.start_form]
        assert form.validate(e["data"]["data"]) == [], (e["step"], e["data"])


def test_cli_simulate_runs_spawns_and_shows_automatic_starts(monkeypatch):
    monkeypatch.chdir(ROOT)
    answers = ROOT / "tests/data/answers/customer-complaint--serious.yaml"
    result = CliRunner().invoke(main, ["simulate", "customer-complaint", "--answers", str(answers)])
    assert result.exit_code == 0, result.output
    assert "open_capa → capa: started with" in result.stdout
    daily = ROOT / "tests/data/answers" / next(
        p.name for p in sorted((ROOT / "tests/data/answers").glob("same-day-issue-report--*.yaml")))
    result = CliRunner().invoke(main, ["simulate", "same-day-issue-report", "--answers", str(daily)])
    assert result.exit_code == 0, result.output
    assert "schedule daily on workdays at 08:30: next" in result.stdout
