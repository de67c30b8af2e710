"""The optional ``en:`` block of procedure and form files: English beside the Chinese, read
by locale, part of the version's identity, and nothing else changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import i18n
from engine.language.english import shown
from engine.language.procedure import load_library

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def lib():
    return load_library([ROOT / "procedures", ROOT / "forms"])


SHIPPED = sorted(p.stem for p in (ROOT / "procedures").glob("*.yaml"))


def _columns(schema: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(path, title) of every column of every table of a form schema (``items.item``)."""
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            out += [(f"{path}.{col}", c.get("title", col))
                    for col, c in (sub["items"].get("properties") or {}).items()]
        elif sub.get("type") == "object":
            out += _columns(sub, f"{path}.")
    return out


def test_every_shipped_procedure_is_checked():
    assert len(SHIPPED) >= 38 and "after-sales-inspection" in SHIPPED


@pytest.mark.parametrize("pid", SHIPPED)
def test_every_shipped_procedure_and_its_forms_have_english(lib, pid):
    proc = lib.procedures[pid]
    assert proc.english is not None and proc.english.own.title
    assert shown(proc, "title", "en") == proc.english.own.title != proc.title
    for sid, step in proc.steps.items():
        if step.is_human:
            assert shown(step, "title", "en") != step.title, f"{pid}: step {sid} has no English title"
    for role in proc.roles:
        assert proc.role_title(role, "en") != proc.roles[role], f"{pid}: role {role}"
    for fid, form in proc.forms.items():
        assert form.english is not None and shown(form, "title", "en") != form.title, fid
        missing = [p for p, info in form.fields.items() if form.field_title(p, "en") == info.title]
        assert not missing, f"{fid}: no English title for {missing}"
        columns = [path for path, title in _columns(form.schema)
                   if not (form.english.parts.get(path) and form.english.parts[path].title)]
        assert not columns, f"{fid}: no English title for the table columns {columns}"
        for path, info in form.fields.items():
            if info.enum and isinstance(info.enum[0], str):
                labels = form.shown_schema("en")
                assert form.english.parts[path].choices, f"{fid}.{path}: choices without English"
                assert labels is not form.schema


def test_chinese_is_shown_as_written_and_values_do_not_change(lib, tmp_path):
    proc = lib.procedures["after-sales-inspection"]
    form = proc.forms["after-sales-inspection-result"]
    assert shown(proc, "title", "zh") == "售后检验" and shown(proc, "title", "en") == "After-sales inspection"
    assert shown(proc.steps["receive"], "description", "en").startswith("Check the returned product")
    assert proc.role_title("inspector", "zh") == "售后检验人员"
    assert proc.role_title("inspector", "en") == "After-sales inspector"
    english = form.shown_schema("en")
    verdict = english["properties"]["verdict"]
    assert verdict["title"] == "Verdict" and verdict["enum"] == ["合格", "不合格"]
    assert verdict["x-labels"] == {"合格": "Pass", "不合格": "Fail"}
    column = english["properties"]["items"]["items"]["properties"]["item"]
    assert column["title"] == "Item" and column["enum"] == ["外观", "功能", "性能", "其他"]
    assert form.schema["properties"]["verdict"]["title"] == "检验结论"  # the form itself unchanged
    assert "x-labels" not in form.schema["properties"]["verdict"]
    # the same submission is valid or not whatever the page's language
    assert form.validate({"verdict": "Pass"}) and not [e for e in form.validate({"verdict": "合格"})
                                                        if e["field"] == "verdict"]
    # a procedure without the block: as written in every language
    (tmp_path / "plain.yaml").write_text(
        "id: plain\ntitle: 反馈\nroles: {a: 甲}\nstart: {roles: [a], step: s}\nsteps:\n"
        "  s: {title: 反馈, role: a, form: quality-feedback, next: done}\n"
        "  done: {type: end, title: 结束, outcome: 完成}\n", encoding="utf-8")
    plain = load_library([tmp_path / "plain.yaml", ROOT / "forms"]).procedures["plain"]
    assert plain.english is None and shown(plain, "title", "en") == plain.title


def test_the_english_is_part_of_the_version(tmp_path):
    """A changed English title is a changed version (its content hash), as a changed
    Chinese one is."""
    forms = tmp_path / "forms"
    forms.mkdir()
    text = (ROOT / "forms" / "quality-feedback.yaml").read_text(encoding="utf-8")
    (forms / "quality-feedback.yaml").write_text(text, encoding="utf-8")
    proc_text = ("id: fb\ntitle: 反馈\nroles: {a: 甲}\nstart: {roles: [a], step: s}\nsteps:\n"
                 "  s: {title: 反馈, role: a, form: quality-feedback, next: done}\n"
                 "  done: {type: end, title: 结束, outcome: 完成}\n")
    (tmp_path / "fb.yaml").write_text(proc_text, encoding="utf-8")
    first = load_library([tmp_path / "fb.yaml", forms]).procedures["fb"].content_hash
    (forms / "quality-feedback.yaml").write_text(text.replace("Problem\n", "The problem\n"), encoding="utf-8")
    second = load_library([tmp_path / "fb.yaml", forms]).procedures["fb"].content_hash
    assert first != second


def test_titles_follow_a_chosen_locale_only():
    """Outside a request (the worker, a command) titles are shown as written; a reader's
    chosen locale (a request's) picks the English."""
    i18n.reset()
    assert i18n.reader_locale() == "zh" and i18n.current_locale() == "en"
    i18n.set_locale("en")
    assert i18n.reader_locale() == "en"
    i18n.set_locale("zh")
    assert i18n.reader_locale() == "zh"
    i18n.set_locale("en", chosen=False)  # an API client that asked for no language
    assert i18n.reader_locale() == "zh" and i18n.gettext("Inbox") == "Inbox"
    i18n.reset()
    assert i18n.reader_locale() == "zh"


def test_the_editor_keeps_the_english_block_in_step(tmp_path):
    """Renaming or deleting a step, or removing a field, in the browser editor (yaml_edit)
    carries its English along, so the file stays valid; English prose is never rewritten."""
    from engine.language import yaml_source as yamlsrc
    from engine.language.forms import parse_form
    from engine.language.yaml_edit import delete_step, remove_field, rename_step

    text = (ROOT / "procedures" / "repair-process-inspection.yaml").read_text(encoding="utf-8")
    assert "then send it back to repair." in text
    renamed = rename_step(text, "repair", "fix")
    english = renamed.split("\nen:")[1]
    assert "\n    fix:\n      title: Repair\n" in english and "\n    repair:" not in english
    assert "then send it back to repair." in renamed  # prose, not a reference
    forms = [ROOT / "forms"]
    path = tmp_path / "repair-process-inspection.yaml"
    path.write_text(renamed, encoding="utf-8")
    assert load_library([path, *forms]).problems == []

    text = (ROOT / "procedures" / "after-sales-inspection.yaml").read_text(encoding="utf-8")
    gone = delete_step(text, "feedback")
    assert "Feed back the quality problem" not in gone and "Review the inspection report" in gone

    form_text = (ROOT / "forms" / "after-sales-inspection-result.yaml").read_text(encoding="utf-8")
    without = remove_field(form_text, "items")
    assert "items.result" not in without and "Inspection items" not in without
    form, problems = parse_form(yamlsrc.load(without, "forms/after-sales-inspection-result.yaml"))
    assert problems == [] and form is not None and "verdict" in form.english.parts
