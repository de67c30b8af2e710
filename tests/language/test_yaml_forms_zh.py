"""The problems of YAML text, of form files and of ``en:`` blocks read in Chinese when the
locale is Chinese, and stay as they were in English: PyYAML's words for a syntax error are
translated piece by piece (its context, what it expected, what it found), never changed in
English."""

from __future__ import annotations

import re

import pytest
import yaml

from engine import i18n
from engine.language import yaml_source
from engine.language.forms.file_check import parse_form

CJK = re.compile(r"[\u4e00-\u9fff]")
# What the reader wrote, PyYAML's quoted characters, and code examples stay as they are.
KEPT = re.compile(r"“[^”]*”|`[^`]*`|'[^']*'|\"[^\"]*\"|\{[^}]*\}|\[[^\]]*\]")

BROKEN = [
    "a: {b: c: d}\n",  # while parsing a flow mapping, expected ',' or '}', but got ':'
    'a: "\\q"\n',  # found unknown escape character 'q'
    "a: *x\n",  # found undefined alias 'x'
    "- a\nb: c\n",  # expected <block end>, but found '?'
    "a: |0\n  x\n",  # expected indentation indicator in the range 1-9, but found 0
    "--- a\n--- b\n",  # expected a single document in the stream, but found another document
    "a: &x 1\nb: &x 2\n",  # found duplicate anchor 'x'; first occurrence, second occurrence
    "a:\n  <<: 1\n",  # expected a mapping or list of mappings for merging, but found scalar
    "a: !foo x\n",  # could not determine a constructor for the tag '!foo'
]


# Mistakes PyYAML notices later than where they are (or in words that do not say the fix):
# said at the mistake, with the fix (yaml_source.syntax_problem).
AT_THE_MISTAKE = [
    ("a: b\n c: d\n", 2, 2, "this line is indented deeper than 'a' on line 1, which has a value already, so YAML "
                            "reads it as more of that value; indent it as 'a' (0 spaces)"),
    ("a:\n  - b\n c: d\n", 3, 2, "this line is indented 1 space, which lines up with no line above it (2 on line 2, "
                                 "0 on line 1); indent it as the lines it belongs with"),
    ("a: 'abc\n", 1, 4, "the quote ' opened here is never closed; end the value with ' on this line"),
    ("a:\tb\n\tc: d\n", 1, 3, "a tab here, where YAML takes only spaces (to indent, and after ':' or '-'); replace "
                             "the tab with spaces"),
    ("a: [b, c\n", 1, 4, "the '[' opened here is not closed; end it with ']' on this line (YAML read on to line 2 "
                         "looking for it)"),
    ('a: "abc\nb: "d"\n', 1, 4, 'the quote " opened here is not closed on its line, so YAML reads on to line 2 as '
                                'part of the text; end the value with " on this line'),
    ("a: Note: this\n", 1, 4, "the value of 'a' holds ': ', which YAML reads as the start of another key; put the "
                             "whole value in quotes: a: \"Note: this\""),
    ("a\n  b: c\n", 1, 2, "'a' has no ':' after it, so YAML reads the deeper lines below it as more of its text; "
                         "write 'a:' to make it a key"),
    ('a: "b" c\n', 1, 8, "text after the closing quote: a value that starts with a quote must end with it; put the "
                         "whole value in quotes, or take the quotes away"),
]


@pytest.mark.parametrize(("text", "line", "col", "message"), AT_THE_MISTAKE)
def test_a_common_yaml_mistake_is_named_where_it_is_with_its_fix(text, line, col, message):
    """PyYAML stops where the text stops making sense: an unclosed quote at the end of the
    file, an unclosed '[' on the next line, and its words ("mapping values are not allowed
    here") do not say what to change."""
    [english] = yaml_source.load(text, "f.yaml").problems
    assert (english.line, english.col, english.message) == (line, col, message)
    i18n.set_locale("zh")
    [chinese] = yaml_source.load(text, "f.yaml").problems
    assert (chinese.line, chinese.col) == (line, col)
    assert CJK.search(chinese.message) and not re.search(r"[A-Za-z]{2,}", KEPT.sub(" ", chinese.message.replace(
        "YAML", ""))), chinese.message


def _pyyaml_words(text: str) -> str:
    try:
        yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        what = exc.problem or str(exc)
        return f"{exc.context}, {what}" if exc.context else what
    raise AssertionError(f"not an error: {text!r}")


@pytest.mark.parametrize("text", BROKEN)
def test_a_yaml_syntax_error_reads_in_chinese_and_stays_pyyaml_in_english(text):
    english = yaml_source.load(text, "f.yaml").problems
    assert [p.message for p in english] == [
        f"YAML syntax error: {_pyyaml_words(text)}; check indentation and quoting"]
    i18n.set_locale("zh")  # the autouse fixture puts English back
    [chinese] = yaml_source.load(text, "f.yaml").problems
    assert (chinese.line, chinese.col) == (english[0].line, english[0].col)
    assert chinese.message.startswith("YAML 语法错误：")
    left = KEPT.sub(" ", chinese.message.removeprefix("YAML"))
    assert not re.search(r"[A-Za-z]{2,}", left), chinese.message


def test_a_pyyaml_text_not_known_is_kept_as_written_and_quoted_in_chinese():
    assert yaml_source._yaml_words("something new") == "something new"
    i18n.set_locale("zh")
    assert yaml_source._yaml_words("something new") == "“something new”"


def test_a_syntax_error_in_chinese_still_falls_back_to_the_pure_python_parser():
    i18n.set_locale("zh")
    src = yaml_source.load("a: {b: c: d}\n", "f.yaml")
    assert src.syntax_error and "“,”或“}”" in src.problems[0].message


FORM = """\
id: Bad_Id
title: t
extra: 1
schema:
  type: object
  required: [nme]
  properties:
    name: {type: integr}
    a: {type: string, x-widgt: text, foo: 1, x-unit: mm}
    b: {type: number, x-widget: radio, x-limits: {min: 5, max: 1, mn: 0}}
    c: {type: string, x-widget: number}
    d: {type: boolean, x-widget: checkbox}
    e: {type: array, x-widget: select, items: {type: string}}
    f: {type: number, x-unit: [1], x-placeholder: 3, x-sensitive: 1, x-accept: [png], x-max-size: -1}
    g: {type: string, x-accept: [.pdf], x-max-size: 10, x-meaning: 审核, x-widget: textarea}
    h: {type: string, x-widget: date, x-scan: barcode}
    j: {type: string, x-scan: qrcode}
    k: {type: integer, x-limits: [1], x-widget: sliders}
    m: {type: object, properties: {n: {type: number, x-compute: "1"}}}
    o: {type: string, x-visible-if: "zz == 1"}
    q: {type: string, x-visible-if: ""}
    r: {type: number, x-compute: "r + 1"}
    u: {type: number, x-compute: "nope + 1"}
    v: {type: number, x-compute: "a"}
    w: {type: array, x-compute: "1"}
en:
  titel: x
  fields:
    nam: x
    a: {title: [1], foo: 1}
"""


def test_the_problems_of_a_form_file_read_in_chinese():
    src = yaml_source.load(FORM, "forms/bad.yaml")
    english = [p.message for p in parse_form(src)[1]]
    i18n.set_locale("zh")
    chinese = [p.message for p in parse_form(yaml_source.load(FORM, "forms/bad.yaml"))[1]]
    assert len(chinese) == len(english) > 20
    for zh in chinese:
        assert CJK.search(zh), zh
        # What stays English: keys, hints, types, widgets and examples (names of the file's language).
        words = set(re.findall(r"[A-Za-z][A-Za-z_-]+", KEPT.sub(" ", zh)))
        assert not words & {"the", "must", "unknown", "did", "mean", "use", "one", "add", "not", "only"}, zh


@pytest.mark.parametrize(("text", "place", "code"), [
    ("id: x\ntitle: a\x07b\n", (2, 9), "0007"),
    ("id: x\n\ntitle: 中文ab\x1b\n", (3, 12), "001B"),  # libyaml counts bytes; the place is in characters
    ("a: [1,\x00]", (1, 7), "0000"),
])
def test_a_control_character_is_a_problem_at_its_place_not_a_crash(text, place, code):
    """A control character pasted into the editor made PyYAML's reader raise out of the loader
    (and the editor's check answer 500)."""
    src = yaml_source.load(text, "procedures/x.yaml")
    assert [(p.line, p.col) for p in src.problems] == [place]
    assert f"U+{code}" in src.problems[0].message and "delete it" in src.problems[0].message
    i18n.set_locale("zh")
    assert "请删除" in yaml_source.load(text, "procedures/x.yaml").problems[0].message
