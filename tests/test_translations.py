"""Every text the product translates has its Chinese: the literal first argument of each
``_(...)`` / ``gettext(...)`` in engine/ and web/ and of each ``_("...")`` in the templates
is in the one catalogue (``engine.i18n``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import engine.app.org  # noqa: F401  (the organisation chart's messages join the catalogue on import)
import engine.language.forms  # noqa: F401  (its messages join the catalogue on import)
from engine.i18n import ZH

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_CALL = re.compile(r"""_\(\s*(["'])((?:(?!\1).)+)\1""", re.S)


def python_texts() -> dict[str, str]:
    found = {}
    for path in [*ROOT.joinpath("engine").rglob("*.py"), *ROOT.joinpath("web").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "gettext") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found[node.args[0].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def template_texts() -> dict[str, str]:
    found = {}
    for path in ROOT.joinpath("web", "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for m in TEMPLATE_CALL.finditer(text):
            found[m.group(2)] = f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
    return found


def test_every_translated_text_has_chinese():
    missing = {t: where for t, where in {**template_texts(), **python_texts()}.items() if t not in ZH}
    assert not missing, "add these to engine/i18n.py ZH:\n" + "\n".join(
        f"  {where}: {t!r}" for t, where in sorted(missing.items(), key=lambda x: x[1]))


def test_the_checker_finds_calls():
    assert len(python_texts()) > 50 and len(template_texts()) > 100
