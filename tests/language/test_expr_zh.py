"""Expression messages read in the reader's language: what the validator reports (syntax,
names, types) and what an evaluation says when it fails at run time (an API's 422, a page),
through the same catalog; in English they stay word for word as before."""

from __future__ import annotations

import re

import pytest

from engine import i18n
from engine.errors import ExpressionError
from engine.language.expr_types import Kind, check_types
from engine.language.expressions import check_names, compile_expr

CJK = re.compile(r"[\u4e00-\u9fff]")
KINDS = {"inspect.measured": Kind("number", name="inspect.measured"),
         "inspect.verdict": Kind("text", choices=("合格", "不合格"), name="inspect.verdict")}


def _compile_error(source: str) -> str:
    with pytest.raises(ExpressionError) as err:
        compile_expr(source)
    return err.value.message


def _run_error(source: str, data: dict) -> str:
    with pytest.raises(ExpressionError) as err:
        compile_expr(source).evaluate(data)
    return err.value.message


def test_syntax_errors_in_english_as_before():
    assert _compile_error('inspect.verdict == == "合格"') == (
        "syntax error in 'inspect.verdict == == \"合格\"': unexpected '=='; check brackets, quotes and operators")
    assert _compile_error("a ==") == (
        "syntax error in 'a ==': unexpected 'end of expression'; check brackets, quotes and operators")
    assert _compile_error("a b") == (
        "syntax error in 'a b': unexpected 'b' after the end of the expression; join conditions with "
        "'and'/'or' and check brackets and quotes")


def test_syntax_errors_in_chinese():
    i18n.set_locale("zh")
    said = _compile_error('inspect.verdict == == "合格"')
    assert said == "'inspect.verdict == == \"合格\"' 有语法错误：此处不应出现“==”；请检查括号、引号和运算符"
    assert "end of expression" in _compile_error("a ==")
    for source in ("a b", "a ** 2", "a ~ b", "foo(a)", "a|lenght", "_x", "", "len(a, b)"):
        assert CJK.search(_compile_error(source)), source


def test_names_in_both_languages():
    expr = compile_expr("inspect.verdcit == '合格' and recheck.verdict")
    known = {"inspect.verdict"}
    english = dict(check_names(expr, known))
    assert english == {
        "inspect.verdcit": "unknown field 'inspect.verdcit'; did you mean 'inspect.verdict'?",
        "recheck.verdict": "unknown step 'recheck' in 'recheck.verdict'; known steps here: inspect",
    }
    i18n.set_locale("zh")
    assert dict(check_names(expr, known)) == {
        "inspect.verdcit": "没有字段“inspect.verdcit”；是不是要写“inspect.verdict”？",
        "recheck.verdict": "没有步骤“recheck”（出现在“recheck.verdict”中）；此处已有的步骤：inspect",
    }


def test_types_in_both_languages():
    source = 'inspect.measured > "95" or inspect.verdict == "合格品"'
    assert [m for _o, m in check_types(source, KINDS)] == [
        "'inspect.measured' is a number and \"95\" is text: they cannot be ordered (this fails when it runs); "
        "write the number without quotes: 95",
        "\"合格品\" is not a choice of 'inspect.verdict', so they are never equal; did you mean \"合格\"? "
        "its choices are: 合格, 不合格",
    ]
    i18n.set_locale("zh")
    assert [m for _o, m in check_types(source, KINDS)] == [
        "“inspect.measured”是数字，而\"95\"是文本：两者无法比较大小（运行时会出错）；数字不要加引号：95",
        "\"合格品\"不是“inspect.verdict”的选项，两者永远不会相等；是不是要写“合格”？它的选项有：合格, 不合格",
    ]


def test_run_time_errors_in_both_languages():
    data = {"inspect": {"measured": 3, "remark": "x"}}
    assert _run_error("inspect.measured > inspect.remark", data) == (
        "cannot evaluate 'inspect.measured > inspect.remark': '>' not supported between instances of 'int' and 'str'")
    assert _run_error("inspect.measured / 0", data) == "cannot evaluate 'inspect.measured / 0': division by zero"
    i18n.set_locale("zh")
    assert _run_error("inspect.measured > inspect.remark", data) == (
        "无法计算 'inspect.measured > inspect.remark'：无法用“>”比较数字和文本")
    assert _run_error("inspect.measured / 0", data) == "无法计算 'inspect.measured / 0'：除数为零"
    assert CJK.search(_run_error("inspect.measured - inspect.remark", data))
    assert CJK.search(_run_error("days(inspect.remark)", data))
