"""Every text the product translates has its Chinese in the gettext catalog.

The test runs the extraction (babel.cfg: ``_``, ``gettext``, ``N_``, ``keep`` in engine/ and
web/, ``_`` in the templates) and fails on any msgid without a Chinese msgstr in
engine/translations/zh/LC_MESSAGES/messages.po, on fuzzy or obsolete entries, on translations
whose ``{placeholders}`` differ from the text's, and on a literal call the extractor cannot
see, naming file:line and the fix (docs/translations.md)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from engine import i18n

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "engine" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def _tool():
    spec = importlib.util.spec_from_file_location("i18n_tool", ROOT / "scripts" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()


@pytest.fixture(scope="module")
def template():
    return tool.extract()


def test_every_translated_text_has_chinese(template):
    found = tool.problems(template, tool.read(PO), PO)
    assert not found, "fix the catalog (scripts/i18n update, then fill the msgstr):\n" + "\n".join(found)


def test_every_value_word_has_english(template):
    """English is the msgid; only the identifiers kept as values need English words."""
    po = PO.parents[2] / "en" / "LC_MESSAGES" / "messages.po"
    assert {p.parents[1].name for p in tool.po_files()} == {"zh", "en"}
    catalog = tool.read(po)
    assert {m.id for m in catalog if m.id} == {m.id for m in template if m.id and tool.VALUE_WORD.fullmatch(m.id)}
    found = tool.problems(template, catalog, po)
    assert not found, "fix the catalog (scripts/i18n update, then fill the msgstr):\n" + "\n".join(found)


def test_the_extractor_finds_the_texts(template):
    places = {f for m in template for f, _line in m.locations}
    assert len(template) > 700
    assert any(f.startswith("web/templates/") for f in places)
    assert {"engine/i18n_words.py", "engine/language/forms/messages.py", "engine/app/org.py"} <= places
    inbox = template.get("Inbox")
    assert inbox is not None and any(f.endswith(".html") for f, _line in inbox.locations)


def _catalog(**entries: str) -> Catalog:
    catalog = Catalog(locale="zh")
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr)
    return catalog


def test_the_check_names_each_fault_and_its_place():
    template = Catalog()
    template.add("Inbox", locations=[("web/templates/base.html", 12)])
    template.add("{n} tasks", locations=[("engine/app/tasks.py", 40)])
    template.add("Save", locations=[("web/templates/task.html", 7)])
    template.add("Cancel", locations=[("web/templates/task.html", 9)])
    catalog = _catalog(**{"Inbox": "", "{n} tasks": "{count} 个任务", "Gone": "已删"})
    catalog.add("Save", "保存", flags=["fuzzy"])
    catalog.obsolete["Old"] = catalog["Gone"]
    found = "\n".join(tool.problems(template, catalog, PO))
    assert "web/templates/base.html:12: no translation in" in found and "'Inbox'" in found
    assert "engine/app/tasks.py:40: the translation in" in found and "placeholders ['count']" in found
    assert "web/templates/task.html:7:" in found and "fuzzy" in found
    assert "web/templates/task.html:9: no translation" in found  # missing altogether
    assert "'Gone' is in no file any more" in found
    assert "obsolete entry" in found


def test_a_text_inside_an_f_string_is_reported(tmp_path, monkeypatch):
    """The extractor of Python < 3.12 cannot see ``_()`` inside an f-string; the AST cross-check
    names the place so it gets its own expression."""
    (tmp_path / "engine").mkdir()
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "page.py").write_text("x = f\"{_('Hidden text')}: more\"\n", encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    assert tool.literal_calls() == {"Hidden text": "web/page.py:1"}
    found = tool.problems(Catalog(), _catalog(), tmp_path / "x.po")
    assert found == ["web/page.py:1: the extractor does not see 'Hidden text' (inside an f-string?): "
                     "give the translated text its own expression"]


def test_the_compiled_catalog_speaks_chinese(tmp_path):
    """compile_catalogs writes a .mo that babel's Translations reads; a stale .mo (older than
    its .po) is compiled again, a fresh one is left alone."""
    source = tmp_path / "src"
    (source / "zh" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(PO, source / "zh" / "LC_MESSAGES" / "messages.po")
    target = tmp_path / "out"
    [mo] = i18n.compile_catalogs(source, target)
    assert mo == target / "zh" / "LC_MESSAGES" / "messages.mo"
    assert i18n.compile_catalogs(source, target) == []  # up to date
    past = time.time() - 60
    os.utime(mo, (past, past))
    assert i18n.compile_catalogs(source, target) == [mo]  # older than the .po
    from babel.support import Translations

    assert Translations.load(str(target), ["zh"]).gettext("Inbox") == "待办"
    assert i18n.gettext("Inbox", "zh") == "待办" and i18n.gettext("Inbox", "en") == "Inbox"
    assert i18n.gettext("", "zh") == ""  # not the catalog's header


def test_a_fresh_clone_gets_its_catalog_without_a_manual_step(tmp_path):
    """No .mo in the tree (a fresh clone): the first gettext compiles it, in a child process
    as the server would."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "engine", tree / "engine",
                    ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.pot"))
    assert not list(tree.glob("engine/translations/*/LC_MESSAGES/*.mo"))
    out = subprocess.run([sys.executable, "-c", "from engine.i18n import gettext; print(gettext('Inbox', 'zh'))"],
                         cwd=tree, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tree)})
    assert out.stdout.strip() == "待办"
    assert (tree / "engine/translations/zh/LC_MESSAGES/messages.mo").exists()


def test_an_unwritable_package_directory_compiles_into_the_cache(tmp_path):
    """Where the .mo cannot be written beside the .po (an installed package owned by another
    user), the catalog is compiled into $XDG_CACHE_HOME instead. A directory squatting on the
    .mo's name makes the write fail even for root (CI runs as root)."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "engine", tree / "engine",
                    ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.pot"))
    squat = tree / "engine/translations/zh/LC_MESSAGES/messages.mo"
    squat.mkdir()
    os.utime(squat, (0, 0))  # older than the .po: to be compiled
    out = subprocess.run([sys.executable, "-c", "from engine.i18n import gettext, catalog_dir; "
                          "print(gettext('Inbox', 'zh'), catalog_dir())"],
                         cwd=tree, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    word, where = out.stdout.split()
    assert word == "待办" and where.startswith(str(tmp_path / "cache"))
    assert list((tmp_path / "cache").rglob("messages.mo"))
    assert squat.is_dir() and not list(squat.parent.glob("*.tmp"))


def test_absorb_moves_a_dict_into_the_catalog_and_deletes_it(tmp_path, monkeypatch):
    """What the lead runs after a merge brings in entries of the old ZH dict: each goes into
    messages.po, the dict leaves the file (a REV:PATH from git is read, not edited), and a key
    no literal call names is listed for the extractor in engine/i18n_words.py."""
    root = tmp_path
    (root / "engine" / "translations" / "zh" / "LC_MESSAGES").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "babel.cfg").write_text("[python: engine/**.py]\n", encoding="utf-8")
    po = root / "engine" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
    monkeypatch.setattr(tool, "ROOT", root)
    monkeypatch.setattr(tool, "CONFIG", root / "babel.cfg")
    monkeypatch.setattr(tool, "CATALOGS", root / "engine" / "translations")
    monkeypatch.setattr(tool, "TEMPLATE", root / "engine" / "translations" / "messages.pot")
    monkeypatch.setattr(tool, "WORDS", root / "engine" / "i18n_words.py")
    tool.write(po, _catalog(Inbox="待办"))
    (root / "engine" / "i18n_words.py").write_text("from engine.i18n import N_\n", encoding="utf-8")
    (root / "engine" / "page.py").write_text(
        'from engine.i18n import _\nx = _("Inbox") + _("{n} new", n=1) + _(status)\n', encoding="utf-8")
    i18n_py = root / "engine" / "i18n.py"
    i18n_py.write_text('LOCALES = ("zh", "en")\n\n# English -> Chinese\nZH: dict[str, str] = {\n'
                       '    "Inbox": "收件箱",\n    "{n} new": "{n} 条新",\n    "stalled": "停滞",\n}\n\n'
                       'def gettext(text):\n    return text\n', encoding="utf-8")
    (root / "engine" / "org.py").write_text('from engine import i18n\ni18n.add("zh", {"Head": "负责人"})\n',
                                            encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], cwd=root, check=True)

    assert tool.absorb(["HEAD:engine/org.py"]) == 0  # from git: the file is left as it is
    assert "i18n.add" in (root / "engine" / "org.py").read_text(encoding="utf-8")
    assert tool.read(po).get("Head").string == "负责人"

    assert tool.absorb([str(i18n_py)]) == 0
    left = i18n_py.read_text(encoding="utf-8")
    assert "ZH" not in left and "English -> Chinese" not in left and "def gettext" in left
    catalog = tool.read(po)
    assert catalog.get("Inbox").string == "收件箱"  # the dict's newer Chinese wins (and is printed)
    assert catalog.get("{n} new").string == "{n} 条新"
    assert catalog.get("stalled").string == "停滞"  # kept: listed for the extractor
    assert "N_('stalled')" in (root / "engine" / "i18n_words.py").read_text(encoding="utf-8")
    words = (root / "engine" / "i18n_words.py").read_text(encoding="utf-8")
    assert "N_('Head')" in words and words.count("N_(") == 2  # each listed once
    assert catalog.get("Head").string == "负责人" and not catalog.obsolete
    assert tool.problems(tool.extract(), catalog, po) == []


def test_the_build_compiles_the_catalog_into_the_wheel(tmp_path):
    """pyproject's build_py hook (engine/i18n_build.py) writes each .mo into the build tree a
    wheel is made from, so an installed server needs no write of its own."""
    from setuptools import Distribution

    from engine.i18n_build import BuildPy

    cmd = BuildPy(Distribution({"name": "qualityflow", "packages": []}))
    cmd.initialize_options()
    cmd.build_lib = str(tmp_path)
    cmd.finalize_options()
    cmd.run()
    from babel.support import Translations

    mo = tmp_path / "engine" / "translations" / "zh" / "LC_MESSAGES" / "messages.mo"
    assert mo.exists()
    assert Translations.load(str(mo.parents[2]), ["zh"]).gettext("Inbox") == "待办"


def test_the_error_check_sees_text_written_in_place(tmp_path, monkeypatch):
    (tmp_path / "engine").mkdir()
    (tmp_path / "web").mkdir()
    (tmp_path / "engine" / "errors.py").write_text(
        "class WorkflowError(Exception): ...\nclass NotFound(WorkflowError): ...\n", encoding="utf-8")
    (tmp_path / "web" / "view.py").write_text(
        "from engine import errors\n"
        "def f(x):\n"
        "    raise errors.NotFound(f'no task {x}')\n"                                  # 3: f-string
        "def g(x):\n"
        "    raise NotFound(_('no task {x}', x=x), errors=[{'field': 'a', 'message': 'required'}])\n"  # 5: field
        "def h(x):\n"
        "    return NotFound(_('no task {x}', x=x), errors=[{'field': 'a', 'message': _('required')}])\n"
        "def k(x):\n"
        "    raise ValueError(f'internal {x}')\n"
        "def m(x):\n"
        "    return Problem('a.yaml', 1, 2, f'unknown role {x}')\n", encoding="utf-8")
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    found = tool.untranslated_errors()
    assert [line.split(": ")[0] for line in found] == ["web/view.py:3", "web/view.py:5", "web/view.py:11"]
    assert "NotFound's message is English" in found[0] and "field's message" in found[1]


def test_absorb_from_a_file_outside_the_repository_keeps_the_texts(tmp_path, monkeypatch):
    """A dict kept outside the checkout (a helper's notes) is absorbed like one inside; its
    dict is removed from the file only after the catalog is written (a failure on the way
    lost the texts once: the file was emptied, the catalog never written)."""
    root = tmp_path / "repo"
    (root / "engine" / "translations" / "zh" / "LC_MESSAGES").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "babel.cfg").write_text("[python: engine/**.py]\n", encoding="utf-8")
    po = root / "engine" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
    for name, value in (("ROOT", root), ("CONFIG", root / "babel.cfg"), ("CATALOGS", root / "engine" / "translations"),
                        ("TEMPLATE", root / "engine" / "translations" / "messages.pot"),
                        ("WORDS", root / "engine" / "i18n_words.py")):
        monkeypatch.setattr(tool, name, value)
    tool.write(po, _catalog())
    (root / "engine" / "i18n_words.py").write_text("from engine.i18n import N_\n", encoding="utf-8")
    (root / "engine" / "page.py").write_text('from engine.i18n import _\nx = _("No such task")\n', encoding="utf-8")
    notes = tmp_path / "notes.py"
    notes.write_text('ZH = {"No such task": "没有该任务"}\n', encoding="utf-8")
    assert tool.absorb([str(notes)]) == 0
    assert tool.read(po).get("No such task").string == "没有该任务"
    assert "ZH" not in notes.read_text(encoding="utf-8")


def test_every_error_a_person_reads_is_translated():
    """The pages and the API show an error's message (and each field's) to whoever caused it:
    one made of English written in place reaches a Chinese reader in English."""
    found = tool.untranslated_errors()
    assert not found, "wrap these messages in _() and translate them:\n" + "\n".join(found)
