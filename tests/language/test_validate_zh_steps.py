"""The step checks of the procedure validator speak Chinese in a Chinese locale, at the same
place as in English, keeping the names the author wrote (and the "did you mean" proposal)."""

from __future__ import annotations

from pathlib import Path

from engine import i18n
from engine.language import yaml_source as yamlsrc
from engine.language.procedure import load_library, parse_procedure
from tests.language.test_validate import LANG_FORMS

BROKEN = """\
id: broken
title: 坏流程
roles:
  inspector: 检验员
start: {roles: [inspector], step: inspect}
steps:
  inspect: {title: 检验, role: inspector, form: check, next: route}
  route:
    type: decision
    title: 判断
    next:
      - if: inspect.verdict == "合格"
        goto: dnoe
  recheck:
    title: 复检
    form: check
    next: done
  done: {type: end, title: 结束, outcome: 完成}
"""

ENGLISH = [
    "broken.yaml:12:7: conditional 'next' of step 'route' has no 'else'; add '- else: STEP' as the last "
    "entry so that no instance gets stuck",
    "broken.yaml:13:15: unknown step 'dnoe'; did you mean 'done'?",
    "broken.yaml:15:5: task step 'recheck' needs 'role': who does it",
]
CHINESE = [
    "broken.yaml:12:7: 步骤“route”的条件“next”没有“else”；请添加“- else: STEP”作为最后一项，以免流程实例卡住",
    "broken.yaml:13:15: 没有步骤“dnoe”；是不是要写“done”？",
    "broken.yaml:15:5: 任务步骤“recheck”需要“role”：由谁来办理",
]


def _problems() -> list[str]:
    forms = load_library([LANG_FORMS]).forms
    proc, problems = parse_procedure(yamlsrc.load(BROKEN, "broken.yaml"), forms)
    assert proc is None
    return [str(p) for p in problems]


def test_step_problems_read_in_chinese_at_the_same_place():
    i18n.set_locale("zh")  # the autouse fixture puts English back
    assert _problems() == CHINESE


def test_english_stays_as_it_was():
    assert _problems() == ENGLISH


def test_a_library_read_in_english_is_not_shown_in_chinese(tmp_path: Path, monkeypatch):
    """Libraries are kept by their files' contents: the locale is part of that key, or the
    editor would show a Chinese reader the problems found earlier for an English one."""
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    paths = ["broken.yaml", str(LANG_FORMS)]
    assert [str(p) for p in load_library(paths).problems] == ENGLISH
    i18n.set_locale("zh")
    assert [str(p) for p in load_library(paths).problems] == CHINESE
