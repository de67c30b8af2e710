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


def test_a_broken_form_is_one_root_error_without_a_list_of_every_form(tmp_path):
    for i in range(30):
        (tmp_path / f"good-{i}.yaml").write_text(
            f"id: good-{i}\ntitle: 表单{i}\nschema:\n  type: object\n  properties:\n"
            "    x: {type: string, title: X}\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(
        "id: broken\ntitle: 坏表单\nschema:\n  type: object\n  properties:\n"
        "    count: {type: integr, title: 数量}\n", encoding="utf-8")
    (tmp_path / "uses-broken.yaml").write_text(
        "id: uses-broken\ntitle: 用坏表单\nroles: {inspector: 检验员}\n"
        "start: {roles: [inspector], step: fill}\nsteps:\n"
        "  fill: {title: 填写, role: inspector, form: broken, next: done}\n"
        "  done: {type: end, title: 结束, outcome: 完成}\n", encoding="utf-8")
    problems = [p.message for p in load_library([tmp_path]).problems]
    assert len(problems) == 2, problems
    assert problems[0].startswith("unknown type 'integr'")
    assert problems[1] == (f"form 'broken' cannot be used until the problems reported for "
                           f"{tmp_path / 'broken.yaml'} are fixed")
    assert not any("good-1" in p for p in problems)


def test_an_unknown_form_lists_a_dozen_forms_at_most(tmp_path):
    for i in range(30):
        (tmp_path / f"good-{i:02d}.yaml").write_text(
            f"id: good-{i:02d}\ntitle: 表单{i}\nschema:\n  type: object\n  properties:\n"
            "    x: {type: string, title: X}\n", encoding="utf-8")
    (tmp_path / "uses-missing.yaml").write_text(
        "id: uses-missing\ntitle: 用不存在的表单\nroles: {inspector: 检验员}\n"
        "start: {roles: [inspector], step: fill}\nsteps:\n"
        "  fill: {title: 填写, role: inspector, form: zzzz, next: done}\n"
        "  done: {type: end, title: 结束, outcome: 完成}\n", encoding="utf-8")
    [problem] = load_library([tmp_path]).problems
    assert problem.message.endswith("good-11, ... (30 in all)")


def test_a_missing_form_is_one_problem_not_one_per_field_named(tmp_path):
    """With a form file left out, each condition, ledger column and KPI naming its fields was
    reported too (19 problems for 5 missing forms); the missing form is the mistake."""
    (tmp_path / "uses-missing.yaml").write_text(
        "id: uses-missing\ntitle: 缺表单\nroles: {inspector: 检验员}\n"
        "start: {roles: [inspector], step: fill, form: gone-start}\n"
        "ledger: {columns: [start.supplier, fill.verdict]}\n"
        "steps:\n"
        "  fill:\n    title: 填写\n    role: inspector\n    form: gone\n"
        "    next:\n      - {if: fill.verdict == \"合格\" and start.quantity > 0, goto: done}\n"
        "      - {else: done}\n"
        "  done: {type: end, title: 结束, outcome: 完成}\n", encoding="utf-8")
    messages = [p.message for p in load_library([tmp_path]).problems]
    assert len(messages) == 2 and all(m.startswith("unknown form") for m in messages), messages
    # a field of a step whose form is known is still checked
    (tmp_path / "uses-missing.yaml").write_text(
        (tmp_path / "uses-missing.yaml").read_text(encoding="utf-8").replace("form: gone\n", "form: note\n"),
        encoding="utf-8")
    messages = [p.message for p in load_library([tmp_path, LANG_FORMS]).problems]
    assert any("unknown field 'fill.verdict'" in m for m in messages), messages
