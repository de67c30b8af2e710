"""Mistakes a quality engineer made writing procedures from docs/ alone, each with the message
``wf validate`` must give: at the place of the mistake, naming the fix.

Each case edits one line of the walkthrough procedures (tests/data/docs_walkthrough) the way it
was first (wrongly) typed, and expects exactly one problem at that line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.config import load_config
from engine.language.procedure import load_library

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data" / "docs_walkthrough"
CAL = "procedures/instrument-calibration.yaml"
SCAR = "procedures/supplier-8d.yaml"
RECORD = "forms/calibration-record.yaml"

CASES = [
    # A choice value typed without quotes was reported as an unknown step '严重'.
    (SCAR, 'if: start.severity == "严重"', "if: start.severity == 严重",
     """'严重' is read as a field name; write a text in quotes: "严重\""""),
    # A field without its step was "unknown step 'severity'; did you mean 'verify'?".
    (SCAR, 'if: start.severity == "严重"', 'if: severity == "严重"',
     "'severity' alone names no field; write the step before it, as STEP.FIELD: 'start.severity'"),
    # One '=' was "unexpected '=' after the end of the expression; join conditions with and/or".
    (SCAR, 'if: start.severity == "严重"', 'if: start.severity = "严重"',
     """expression error: syntax error in 'start.severity = "严重"': one '=' does not compare; write '==' """
     """(equal) or '!=' (not equal): start.severity == "严重\""""),
    # A passing answer that is no choice made a first-pass rate of 0 %, silently.
    (CAL, "pass: 全部合格}", "pass: 合格}",
     "'合格' is not a choice of 'calibrate.verdict', so no record would ever count; its choices are: "
     "全部合格, 有不合格"),
    (CAL, "pass: 全部合格}", "pass: 全部}",
     "'全部' is not a choice of 'calibrate.verdict', so no record would ever count; did you mean '全部合格'? "
     "its choices are: 全部合格, 有不合格"),
    # A score label no rated field offers was left out of the score table, silently.
    (SCAR, "values: {很满意: 4,", "values: {非常满意: 4,",
     "'非常满意' is not a choice of 'verify.rating', so no record would ever count; did you mean '满意'? "
     "its choices are: 很满意, 满意, 基本满意, 不满意"),
    # at: 8:30 without quotes was "bad time 510".
    (CAL, 'at: "08:30"', "at: 8:30",
     'at: 510 is a number, not a time: YAML reads 8:30 without quotes as 510; write the time in quotes as '
     '"HH:MM": at: "08:30"'),
    # In a form: "x-visible-if: unknown field '外部送检'; the fields here are ...".
    (RECORD, 'x-visible-if: method == "外部送检"\n    agency_contact', "x-visible-if: method == 外部送检\n    agency_contact",
     """x-visible-if: '外部送检' is read as a field name; write a text in quotes: "外部送检\""""),
    # 'then' (the word of deadline lists) in a transition was three problems, one of them a
    # consequence ("cannot be reached"), and none said to write goto.
    (CAL, "        goto: dispose", "        then: dispose",
     "a transition names its step with 'goto', not 'then' ('then' gives the duration in a deadline's "
     "'within' list): write goto: dispose"),
    (SCAR, "      within: 10wd", "      within:\n        - {if: start.severity == \"严重\", goto: 5wd}\n"
     "        - else: 10wd",
     "a conditional duration gives its duration with 'then', not 'goto' ('goto' names a step in 'next'): "
     "write then: 24h", 1),
    # A date-time picker on a date field: every submission refused ("Write the date as YYYY-MM-DD").
    ("forms/scar-request.yaml", "format: date}", "format: date, x-widget: datetime}",
     "x-widget: datetime stores what format: date refuses, so the form could never be sent; use "
     "x-widget: date (or format: date-time)"),
    # An unknown format was taken silently: JSON Schema does not check it, so any text passed.
    ("forms/scar-request.yaml", "format: date}", "format: 日期}",
     "unknown format '日期'; use one of date, date-time, time, email (any other is not checked, so the "
     "field would take any text)"),
    # A default that is no choice is shown preselected, then refused on submission.
    ("forms/scar-request.yaml", "      enum: [一般, 严重]\n", "      enum: [一般, 严重]\n      default: 重大\n",
     "default 重大 is not one of the choices: 一般, 严重", 1),
    (RECORD, "x-compute: \"count(results, 'result', '停用')\"", "x-compute: \"count(results, 'result', 停用)\"",
     """x-compute: '停用' is read as a field name; write a text in quotes: "停用\""""),
]


@pytest.mark.parametrize("case", CASES, ids=[c[2].split("\n")[0].strip() for c in CASES])
def test_the_mistake_is_named_at_its_line_with_the_fix(case, tmp_path):
    """``case``: file, the text written first, the text as mistyped, the message, and how many
    lines below the text's first line the problem is (0 when left out)."""
    file, old, new, message, below = (*case, 0)[:5]
    work = tmp_path / "work"
    shutil.copytree(DATA, work)
    path = work / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    line = text[:text.index(old)].count("\n") + 1 + old[:old.index(old.lstrip())].count("\n") + below
    lib = load_library([work / "procedures", work / "forms"], config=load_config(ROOT / "config.yaml"))
    assert [(p.line, p.message) for p in lib.problems if Path(p.file).name == path.name] == [(line, message)]


def test_the_walkthrough_itself_is_valid():
    lib = load_library([DATA / "procedures", DATA / "forms"], config=load_config(ROOT / "config.yaml"))
    assert [str(p) for p in lib.problems] == []


def test_start_fields_without_a_start_form_name_the_fix(tmp_path):
    """Each use of start.FIELD (a condition, ledger columns, index, KPIs) said 'unknown step
    start' or 'unknown field'; each now says to add a form under start:."""
    work = tmp_path / "work"
    shutil.copytree(DATA, work)
    path = work / SCAR
    path.write_text(path.read_text(encoding="utf-8").replace("  form: scar-request\n", "", 1), encoding="utf-8")
    lib = load_library([work / "procedures", work / "forms"], config=load_config(ROOT / "config.yaml"))
    messages = [p.message for p in lib.problems]
    assert messages and all("reads the start form, but 'start:' names no form; add 'form: FORM' under 'start:'"
                            in m for m in messages), messages
    assert messages[0].startswith("'start.severity'")
