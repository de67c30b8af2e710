"""The validator speaks the reader's language: every problem of every broken file of
``tests/data/invalid`` (EXPECTED.txt, which stays the English of ``wf validate``) reads in
Chinese when the locale is Chinese, as the editor shows it to a quality engineer, at the
same place, naming the same ids, with the same "did you mean" proposal."""

from __future__ import annotations

import re

import pytest

from engine import i18n
from engine.config import load_config
from engine.language.procedure import load_library
from tests.language.test_validate import EXPECTED, LANG_FORMS, ROOT

CJK = re.compile(r"[\u4e00-\u9fff]")
# Quoted names, ids, keys, values and code examples are the user's own words or YAML: kept.
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|“[^”]*”|`[^`]*`|\{[^}]*\}|\[[^\]]*\]|\([^)]*[A-Za-z_.]+[^)]*\)")
# Words of an English sentence, never YAML keys or values of this language.
ENGLISH = re.compile(r"\b(the|must|unknown|did you mean|needs|has no|is not|cannot|known|does not|"
                     r"never|should|expected|missing|only|use one of|add|remove|write)\b", re.IGNORECASE)


def _zh(name: str, monkeypatch) -> list[str]:
    monkeypatch.chdir(ROOT)
    i18n.set_locale("zh")  # the autouse fixture puts English back
    lib = load_library([name, LANG_FORMS.relative_to(ROOT)], config=load_config(ROOT / "config.yaml"))
    return [str(p) for p in lib.problems]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_problem_reads_in_chinese_at_its_place(name, monkeypatch):
    english = EXPECTED[name]
    chinese = _zh(name, monkeypatch)
    assert sorted(map(_place, chinese)) == sorted(map(_place, english))
    for zh in chinese:
        text = zh.split(":", 3)[3]
        assert CJK.search(text), f"still English: {zh}"
        leftover = ENGLISH.findall(QUOTED.sub(" ", text))
        assert not leftover, f"English words {leftover} in: {zh}"
    # The names quoted in English (ids, keys, the proposal) are all still there, at each place.
    for place in {_place(en) for en in english}:
        said = " ".join(zh.split(":", 3)[3] for zh in chinese if _place(zh) == place)
        for en in (en for en in english if _place(en) == place):
            for quoted in re.findall(r"(?<![A-Za-z])'([^']+)'", en.split(":", 3)[3]):
                if re.fullmatch(r"[A-Za-z0-9_.\-:/ ]+", quoted):
                    assert quoted in said, f"'{quoted}' of '{en}' lost in: {said}"


def _place(line: str) -> tuple[str, int, int]:
    file, row, col, _ = line.split(":", 3)
    return file, int(row), int(col)
