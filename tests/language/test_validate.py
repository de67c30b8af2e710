"""``wf validate``: broken files each produce their exact problems at their exact places."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.config import load_config
from engine.language.procedure import load_library

ROOT = Path(__file__).parents[2]
INVALID = ROOT / "tests" / "data" / "invalid"
LANG_FORMS = ROOT / "tests" / "data" / "lang" / "forms"


def expected() -> dict[str, list[str]]:
    """EXPECTED.txt lists, for every broken file, every problem `wf validate` must print."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in (INVALID / "EXPECTED.txt").read_text(encoding="utf-8").splitlines():
        out[line.split(":", 1)[0]].append(line)
    return out


EXPECTED = expected()


def test_every_broken_file_has_expectations():
    files = sorted(str(p.relative_to(ROOT)) for p in INVALID.glob("*.yaml"))
    assert len(files) >= 15
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_reports_exact_problems(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    lib = load_library([name, LANG_FORMS.relative_to(ROOT)], config=load_config(ROOT / "config.yaml"))
    assert [str(p) for p in lib.problems] == EXPECTED[name]


def test_cli_prints_every_problem_and_exits_1(monkeypatch):
    monkeypatch.chdir(ROOT)
    names = sorted(EXPECTED)
    result = CliRunner().invoke(main, ["validate", *names, str(LANG_FORMS.relative_to(ROOT))])
    assert result.exit_code == 1
    printed = [line for line in result.stdout.splitlines() if line]
    assert printed == sorted((line for lines in EXPECTED.values() for line in lines), key=_place)


def _place(line: str) -> tuple[str, int, int]:
    """Problems are printed in file, line, column order (numbers compared as numbers)."""
    file, row, col, _ = line.split(":", 3)
    return file, int(row), int(col)


def test_shipped_library_is_valid(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", "procedures", "forms"])
    assert result.exit_code == 0, result.output
    assert "OK:" in result.stderr


def test_demo_procedure_is_valid():
    lib = load_library([ROOT / "tests/data/lang/demo.yaml", LANG_FORMS])
    assert lib.problems == []
    assert set(lib.procedures) == {"demo"}


def test_problems_of_one_file_all_reported_together(tmp_path):
    bad = tmp_path / "many.yaml"
    bad.write_text(
        "id: many\ntitle: x\nroles: {a: A}\nstart: {roles: [b], step: s}\n"
        "steps:\n  s:\n    title: S\n    role: a\n    form: nope\n    deadline: {within: 3days}\n    next: done\n"
        "  done: {type: end, title: E}\n",
        encoding="utf-8",
    )
    lib = load_library([bad, LANG_FORMS])
    messages = [f"{p.line}:{p.col}: {p.message}" for p in lib.problems]
    assert messages == [
        "4:17: unknown role 'b'; known roles: a",
        "9:11: unknown form 'nope'; did you mean 'note'?",
        "10:24: bad duration '3days': write a number and a unit without a space, e.g. 30m, 24h, 3d, 2w, 1mo, 8wh (working hours), 3wd (working days)",
        "12:9: missing 'outcome'; add 'outcome: ...'",
    ]
