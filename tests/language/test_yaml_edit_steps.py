"""Issue 19: the visual model of a step and the condition builder.

Every shipped procedure loads into the step model and writes back byte for byte; an edit
changes only its own lines; the pickers' expressions are the language's own (the validator
accepts them) and every shipped condition they can show reads back unchanged."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from engine import i18n
from engine.language import condition_builder as cb
from engine.language.condition_words import condition_words, due_words
from engine.language.procedure import load_library
from engine.language.yaml_edit import EditError, _load, _steps, set_step, step_model

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "procedures").glob("*.yaml"))
PROC = (ROOT / "procedures" / "after-sales-inspection.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def library():
    return load_library([ROOT / "procedures", ROOT / "forms"])


@pytest.fixture
def zh():
    i18n.set_locale("zh")
    yield
    i18n.reset()


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def _problems(text: str, pid: str, tmp_path: Path) -> list[str]:
    import shutil
    shutil.copytree(ROOT / "procedures", tmp_path / "procedures")
    (tmp_path / "procedures" / f"{pid}.yaml").write_text(text, encoding="utf-8")
    lib = load_library([tmp_path / "procedures", ROOT / "forms"])
    return [str(p) for p in lib.problems]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_procedure_round_trips_through_the_step_model(path: Path) -> None:
    """Acceptance of issue 19: loaded into the visual model and saved without changes, every
    step of every shipped procedure gives the identical file; a property changed and changed
    back gives it too (the edit path itself keeps comments, order and blank lines)."""
    text = path.read_text(encoding="utf-8")
    ids = list(_steps(_load(text)))
    for n, sid in enumerate(ids):
        model = step_model(text, sid)
        assert set_step(text, sid, model) == text, sid
        if n % 3:
            continue  # the write path on every third step: a full dump per step is slow on big files
        changed = {"title": model["title"] + "（改）"}
        restored = {"title": model["title"]}
        if isinstance(model.get("deadline"), dict) and isinstance(model["deadline"].get("within"), str):
            changed["deadline"] = {**model["deadline"], "within": "9wd"}
            restored["deadline"] = model["deadline"]
        assert set_step(set_step(text, sid, changed), sid, restored) == text, sid


def test_an_edit_changes_only_its_own_lines_and_keeps_the_blank_line_after_the_step() -> None:
    model = step_model(PROC, "inspect")
    deadline = {**model["deadline"], "escalate": [{"after": "0h", "to": "qa_supervisor"},
                                                  {"after": "3wd", "to": "quality_manager"},
                                                  {"after": "5wd", "to": "manager", "fallback": "quality_manager"}]}
    out = set_step(PROC, "inspect", {"deadline": deadline, "hide": ["start.contact_phone"], "return_to": ["receive"]})
    removed, added = changed_lines(PROC, out)
    assert removed == ["        - after: 2wd"]
    assert added == ["    hide: [start.contact_phone]", "    return_to: [receive]", "        - after: 3wd",
                     "        - after: 5wd", "          to: manager", "          fallback: quality_manager"]
    # the last key of a step replaced or removed: the blank line before the next step stays
    out = set_step(PROC, "report", {"next": [{"if": 'inspect.verdict == "合格"', "goto": "review"},
                                             {"else": "feedback"}]})
    assert "      - else: feedback\n\n  review:" in out
    out = set_step(PROC, "review", {"on_reject": None, "deadline": None})
    assert "    next: feedback\n\n  feedback:" in out and "on_reject" not in out.split("  review:")[1].split("  feedback:")[0]


def test_a_task_becomes_an_approval_and_back() -> None:
    out = set_step(PROC, "report", {"type": "approval"})
    assert "  report:\n    type: approval\n    title: 检验报告编制" in out
    assert set_step(out, "report", {"type": "task"}) == PROC


def test_step_edits_that_cannot_be_made_say_so_in_chinese(zh) -> None:
    with pytest.raises(EditError, match="步骤“report”需要名称"):
        set_step(PROC, "report", {"title": ""})
    with pytest.raises(EditError, match="需要期限"):
        set_step(PROC, "report", {"deadline": {"remind_before": "2h"}})
    with pytest.raises(EditError, match="没有步骤“reprot”；现有步骤：receive, inspect"):
        set_step(PROC, "reprot", {"title": "x"})


def test_shipped_conditions_read_back_into_pickers_unchanged(library) -> None:
    total = shown = 0
    for proc in library.procedures.values():
        for st in proc.steps.values():
            for t in st.next:
                if t.condition is None:
                    continue
                total += 1
                parsed = cb.parse(t.condition.source)
                if parsed is not None:
                    shown += 1
                    assert cb.build(parsed) == t.condition.source
                    refs = {c.ref for c in cb.fields_before(library.procedures[proc.id], st.id)}
                    assert {r.field for r in parsed.rows} <= refs, (proc.id, st.id, t.condition.source)
    assert total > 80 and shown >= total - 3  # a function call or a mixed and/or stays code


@pytest.mark.parametrize(("row", "expr"), [
    (cb.Row("inspect.verdict", "eq", ("合格",)), 'inspect.verdict == "合格"'),
    (cb.Row("inspect.verdict", "ne", ("合格",)), 'inspect.verdict != "合格"'),
    (cb.Row("inspect.verdict", "in", ("合格", "不合格")), 'inspect.verdict in ["合格", "不合格"]'),
    (cb.Row("nonconforming.category", "not_in", ("其他",)), 'nonconforming.category not in ["其他"]'),
    (cb.Row("inspect.ambient_temperature", "gt", (30,)), "inspect.ambient_temperature > 30"),
    (cb.Row("inspect.ambient_temperature", "le", (30.5,)), "inspect.ambient_temperature <= 30.5"),
    (cb.Row("inspect.ambient_humidity", "between", (20, 80)),
     "(inspect.ambient_humidity >= 20 and inspect.ambient_humidity <= 80)"),
    (cb.Row("inspect.defect", "contains", ("裂",)), '"裂" in inspect.defect'),
    (cb.Row("inspect.defect", "empty"), "inspect.defect is none"),
    (cb.Row("start.quantity", "not_empty"), "start.quantity is not none"),
    (cb.Row("review.decision", "eq", ("approve",)), 'review.decision == "approve"'),
])
def test_every_operator_writes_an_expression_the_validator_accepts(row, expr, tmp_path) -> None:
    built = cb.build(cb.Condition("and", (row,)))
    assert built == expr and cb.parse(built) == cb.Condition("and", (row,))
    step = "feedback" if row.field.startswith("review.") else "report"
    target = "done" if step == "feedback" else "review"
    text = set_step(PROC, step, {"next": [{"if": built, "goto": target}, {"else": target}]})
    assert _problems(text, "after-sales-inspection", tmp_path) == []


def test_operators_follow_the_field_type_and_values_come_from_its_choices(library) -> None:
    proc = library.procedures["after-sales-inspection"]
    fields = {c.ref: c for c in cb.fields_before(proc, "report")}
    assert fields["inspect.verdict"].kind == "choice" and fields["inspect.verdict"].choices == ("合格", "不合格")
    assert "gt" not in fields["inspect.verdict"].operators and "in" in fields["inspect.verdict"].operators
    assert "between" in fields["inspect.ambient_temperature"].operators
    assert fields["receive.received_on"].fmt == "date"
    assert not any(r.startswith("feedback.") for r in fields)  # the feedback comes after the report
    assert "report.conclusion" in fields  # its own fields decide its own next
    assert "feedback.departments" not in {c.ref for c in cb.fields_before(proc, "feedback", own=False)}
    assert "feedback.departments" in {c.ref for c in cb.fields_before(proc, "feedback", own=True)}


def test_rows_that_make_no_expression_name_the_row_and_the_fix(zh) -> None:
    with pytest.raises(cb.BuildError, match="条件第 1 行（inspect.ambient_temperature）：“很热”不是数字"):
        cb.typed_row("inspect.ambient_temperature", "gt", ["很热"], "number", 1)
    with pytest.raises(cb.BuildError, match="条件第 2 行（inspect.verdict）：有一个值为空"):
        cb.build(cb.Condition("and", (cb.Row("inspect.verdict", "yes"), cb.Row("inspect.verdict", "eq", ("",)))))
    assert cb.typed_row("x.y", "in", ["合格，不合格"], "choice", 1).values == ("合格", "不合格")


def test_conditions_the_pickers_cannot_show_are_left_to_code() -> None:
    for source in ('len(inspect.items) > 3', 'a.b == "x" and c.d or e.f', 'inspect.verdict=="合格"',
                   'inspect.ambient_temperature > 3.50'):
        assert cb.parse(source) is None, source


def test_due_dates_from_a_date_field() -> None:
    fmts = {"receive.received_on": "date", "inspect.inspected_at": "date-time"}
    assert cb.build_due(cb.DueDate("receive.received_on"), "date") == "receive.received_on"
    assert cb.build_due(cb.DueDate("receive.received_on", 5), "date") == "date(receive.received_on) + days(5)"
    built = cb.build_due(cb.DueDate("inspect.inspected_at", 36, "hours"), "date-time")
    assert built == "datetime(inspect.inspected_at) + hours(36)"
    assert cb.parse_due(built, fmts) == cb.DueDate("inspect.inspected_at", 36, "hours")
    assert cb.parse_due("at(instance.started_at, '17:30')", fmts) is None


def test_new_shapes_are_said_in_words(library, zh) -> None:
    proc = library.procedures["after-sales-inspection"]
    assert condition_words(proc, "(inspect.ambient_humidity >= 20 and inspect.ambient_humidity <= 80)") == \
        "相对湿度 介于 20 和 80 之间"
    assert condition_words(proc, "inspect.defect is none") == "不合格描述 为空"
    assert condition_words(proc, '"裂" in inspect.defect') == "不合格描述 包含 裂"
    assert due_words(proc, "date(receive.received_on) + days(5)") == "接收日期 后 5 天"
    assert due_words(proc, "receive.received_on") == "至 接收日期"
    assert due_words(proc, "at(instance.started_at, '17:30')") == "at(instance.started_at, '17:30')"
