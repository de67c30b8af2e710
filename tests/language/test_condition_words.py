"""Conditions as people say them (issue 19): the diagram and the step table read
"检验结论 是 合格", not ``inspect.verdict == "合格"``; shapes it cannot say stay as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import i18n
from engine.language.condition_words import condition_words
from engine.language.procedure import load_library

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def library():
    return load_library([ROOT / "procedures", ROOT / "forms"])


@pytest.mark.parametrize(("pid", "source", "zh", "en"), [
    ("after-sales-inspection", 'inspect.verdict == "合格"', "检验结论 是 合格", "检验结论 is 合格"),
    ("customer-complaint", "verify.valid == false", "投诉属实：否", "投诉属实: no"),
    ("customer-complaint", 'classify.severity == "重大" or classify.major_customer',
     "情节 是 重大，或 重大客户：是", "情节 is 重大 or 重大客户: yes"),
    ("customer-return-repair", "not register.own_product", "本公司生产的产品：否", "本公司生产的产品: no"),
    ("after-sales-inspection", 'inspect.verdict in ["合格", "不合格"]', "检验结论 是 合格、不合格 之一",
     "检验结论 is one of 合格、不合格"),
    ("after-sales-inspection", "start.quantity >= 2", "数量 ≥ 2", "数量 ≥ 2"),
    ("after-sales-inspection", "len(inspect.items) > 3", "len(inspect.items) > 3", "len(inspect.items) > 3"),
])
def test_conditions_in_words(library, pid, source, zh, en):
    proc = library.procedures[pid]
    i18n.set_locale("zh")
    assert condition_words(proc, source) == zh
    i18n.set_locale("en")
    assert condition_words(proc, source) == en
