"""The translation catalogs' workflow (docs/translations.md); run it as ``scripts/i18n COMMAND``.

    extract          the texts of the code and templates -> engine/translations/messages.pot
    update           extract, then merge into each messages.po (new texts arrive untranslated);
                     --drop-obsolete: delete the entries no code uses any more
    compile          messages.po -> messages.mo (the server also does this at first use)
    check            every text has its translation, none fuzzy or obsolete, and no error a
                     person reads is made of English written in place (exit 1 if not)
    absorb [SRC...]  move hand-written dicts (``ZH = {...}``, ``i18n.add("zh", {...})``) into
                     zh/messages.po, then update. SRC is a file (its dicts are moved and deleted
                     from it) or REV:PATH read from git (``main:engine/i18n.py`` after a merge);
                     no SRC: every .py file under engine/ and web/.

The same functions serve tests/test_translations.py.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
# engine.i18n's CATALOGS; not imported, so that absorb still runs while a merge has left
# conflict markers in engine/i18n.py.
CATALOGS = ROOT / "engine" / "translations"
CONFIG = ROOT / "babel.cfg"
TEMPLATE = CATALOGS / "messages.pot"
WORDS = ROOT / "engine" / "i18n_words.py"
# _ / gettext: a text shown now; N_: marked here, translated later (a status word kept as a
# value); keep: a message stored in a record and shown later in each reader's language.
KEYWORDS: dict[str, None] = {"_": None, "gettext": None, "N_": None, "keep": None}
# {s}: the English plural ending (row{s}), which a translation may leave out.
ENGLISH_ONLY = {"s"}
PLACEHOLDER = re.compile(r"(?<!\{)\{(\w*)[^{}]*\}")
# English is the msgid, so the English catalog holds only the words kept as values that are
# not English as written (``task:created``, ``in_review``): an English page shows "task
# created", "in review". Every other text reads as it is.
VALUE_WORD = re.compile(r"[a-z]+(?:[:_][a-z]+)+")


def needs_translation(locale: str, msgid: str) -> bool:
    return locale != "en" or bool(VALUE_WORD.fullmatch(msgid))


# ----------------------------------------------------------------------------- catalogs


def extract() -> Catalog:
    """Every translatable text of engine/, web/ and the templates, with where it is."""
    with CONFIG.open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(CONFIG))
    template = Catalog(project="QualityFlow", charset="utf-8", fuzzy=False)
    for filename, lineno, text, comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True):
        if isinstance(text, str) and text:
            template.add(text, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_files() -> list[Path]:
    return sorted(CATALOGS.glob("*/LC_MESSAGES/messages.po"))


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=path.parents[1].name, abort_invalid=True)


def write(path: Path, catalog: Catalog, *, template: bool = False) -> None:
    """Sorted by text, file names without line numbers, lines unwrapped: an edit elsewhere in a
    file does not touch the catalog, and two branches adding texts merge line by line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=0, sort_output=True, include_lineno=template)


def merge(catalog: Catalog, template: Catalog) -> None:
    created = catalog.creation_date
    catalog.update(template, update_creation_date=False)
    catalog.creation_date = created


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def where(message: Message) -> str:
    return ", ".join(f"{f}:{n}" for f, n in message.locations[:2]) or "?"


def literal_calls() -> dict[str, str]:
    """The literal first argument of each _(), gettext(), N_() and keep() call in Python,
    found by Python's own parser: a cross-check on the extractor (it cannot see into an
    f-string before Python 3.12, for instance)."""
    found: dict[str, str] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in KEYWORDS and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and node.args[0].value):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _sources() -> list[Path]:
    return sorted([*ROOT.joinpath("engine").rglob("*.py"), *ROOT.joinpath("web").rglob("*.py")])


def error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """The names of ``WorkflowError`` and of every class of engine/ and web/ derived from it
    (read from the source, so the check runs without importing the product)."""
    bases: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(
                    b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                    if isinstance(b, ast.Name | ast.Attribute))
    found = {"WorkflowError"}
    while True:
        more = {name for name, of in bases.items() if of & found} - found
        if not more:
            return found
        found |= more


def _written_text(node: ast.AST | None) -> bool:
    """Text written in place: a string, an f-string, or one glued or chosen from such."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value.strip())
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _written_text(node.left) or _written_text(node.right)
    if isinstance(node, ast.IfExp):
        return _written_text(node.body) or _written_text(node.orelse)
    return False


# Besides errors: a validator's problem (file, line, col, message), which the editor shows.
MESSAGE_AT = {"Problem": 3}


def untranslated_errors() -> list[str]:
    """Errors a person may read (``WorkflowError`` and its kinds: the pages and the API show
    their message and each field's) made with text written in place instead of ``_()``: a
    Chinese reader would get it in English. ``file:line: ...`` lines saying the fix."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in _sources()}
    kinds = error_classes(trees) | set(MESSAGE_AT)
    out = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = (node.func.id if isinstance(node.func, ast.Name)
                    else node.func.attr if isinstance(node.func, ast.Attribute) else "")
            if name not in kinds:
                continue
            place = f"{path.relative_to(ROOT)}:{node.lineno}"
            at = MESSAGE_AT.get(name, 0)
            message = node.args[at] if len(node.args) > at else next(
                (k.value for k in node.keywords if k.arg == "message"), None)
            if _written_text(message):
                out.append(f"{place}: {name}'s message is English written in place: give it as "
                           f"_(\"text {{name}}\", name=value) so each reader gets it in their language")
            for keyword in node.keywords:
                if keyword.arg != "errors":
                    continue
                for item in ast.walk(keyword.value):
                    if isinstance(item, ast.Dict) and any(
                            isinstance(k, ast.Constant) and k.value == "message" and _written_text(v)
                            for k, v in zip(item.keys, item.values, strict=True)):
                        out.append(f"{place}: a field's message in {name}(errors=...) is English "
                                   f"written in place: give it as _(\"...\")")
                        break
    return out


def problems(template: Catalog, catalog: Catalog, path: Path) -> list[str]:
    """What keeps ``catalog`` from translating every text of ``template``, as ``file:line: ...``
    lines saying the fix."""
    po = path.relative_to(ROOT)
    out = []
    for message in template:
        if not message.id:
            continue
        if not needs_translation(str(catalog.locale), message.id):
            continue
        entry = catalog.get(message.id, message.context)
        if entry is None or not entry.string:
            out.append(f"{where(message)}: no translation in {po} for {message.id!r}: run "
                       f"scripts/i18n update and fill its msgstr")
        elif entry.fuzzy:
            out.append(f"{where(message)}: the translation in {po} of {message.id!r} is marked "
                       f"fuzzy (a guess from a similar text): check it, then delete the '#, fuzzy' line")
        elif (placeholders(entry.string) - placeholders(message.id)
              or placeholders(message.id) - placeholders(entry.string) - ENGLISH_ONLY):
            out.append(f"{where(message)}: the translation in {po} of {message.id!r} has the "
                       f"placeholders {sorted(placeholders(entry.string))}, the text "
                       f"{sorted(placeholders(message.id))}: use the same {{names}}")
    for entry in catalog:
        if entry.id and template.get(entry.id, entry.context) is None:
            out.append(f"{po}: {entry.id!r} is in no file any more: run scripts/i18n update, "
                       f"then delete the obsolete entry")
    for entry in catalog.obsolete.values():
        out.append(f"{po}: obsolete entry {entry.id!r} (#~): reuse its translation for a new "
                   f"text if it fits, then delete it")
    for text, place in literal_calls().items():
        if template.get(text) is None:
            out.append(f"{place}: the extractor does not see {text!r} (inside an f-string?): "
                       f"give the translated text its own expression")
    return out


# ----------------------------------------------------------------------------- absorb


def dicts(tree: ast.Module) -> Iterator[tuple[ast.stmt, ast.Dict]]:
    """Hand-written Chinese dicts of a module, each with the statement to delete: ``ZH = {...}``
    (or ``ZH: dict[str, str] = {...}``) at the top level, and ``add("zh", {...})`` or
    ``i18n.add("zh", NAME)`` calls (then NAME's assignment too)."""
    named: dict[str, tuple[ast.stmt, ast.Dict]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Dict):
            named[target.id] = (stmt, value)
            if target.id == "ZH":
                yield stmt, value
    for stmt in tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (isinstance(call, ast.Call) and len(call.args) == 2
                and isinstance(call.args[0], ast.Constant) and call.args[0].value == "zh"
                and ((isinstance(call.func, ast.Attribute) and call.func.attr == "add")
                     or (isinstance(call.func, ast.Name) and call.func.id == "add"))):
            continue
        arg = call.args[1]
        if isinstance(arg, ast.Dict):
            yield stmt, arg
        elif isinstance(arg, ast.Name) and arg.id in named:
            yield stmt, ast.Dict(keys=[], values=[])  # the call goes; its entries come with NAME
            if arg.id != "ZH":  # ZH itself was yielded above
                yield named[arg.id]


def source(spec: str) -> tuple[str, Path | None]:
    """The text of ``spec`` (a path, or REV:PATH from git) and the file to edit (None for git)."""
    path = Path(spec)
    if path.exists():
        return path.read_text(encoding="utf-8"), path.resolve()
    return subprocess.run(["git", "show", spec], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout, None


def absorb(specs: Iterable[str]) -> int:
    specs = list(specs) or [str(p) for p in sorted(
        [*ROOT.joinpath("engine").rglob("*.py"), *ROOT.joinpath("web").rglob("*.py")])]
    po_path = CATALOGS / "zh" / "LC_MESSAGES" / "messages.po"
    catalog = read(po_path)
    moved: dict[str, str] = {}
    emptied: list[tuple[Path, str, int]] = []
    for spec in specs:
        text, path = source(spec)
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        drop: set[int] = set()
        for stmt, node in dicts(tree):
            pairs = ast.literal_eval(node) if node.keys else {}
            for key, value in pairs.items():
                old = catalog.get(key)
                if old is not None and old.string == value and not old.fuzzy:
                    continue
                if old is not None and old.string and old.string != value:
                    print(f"{spec}: {key!r}: {old.string!r} -> {value!r}")
                if old is None:
                    catalog.add(key, value)
                else:  # Catalog.add would keep the old msgstr
                    old.string = value
                    old.flags.discard("fuzzy")
                moved[key] = value
            first = stmt.lineno - 1
            while first > 0 and lines[first - 1].lstrip().startswith("#"):  # its comment
                first -= 1
            drop.update(range(first, stmt.end_lineno or stmt.lineno))
        if path is not None and drop:
            emptied.append((path, "".join(x for i, x in enumerate(lines) if i not in drop), len(drop)))
    # The catalog first: a dict is deleted from its file only once its texts are safe.
    write(po_path, catalog)
    for path, rest, count in emptied:
        path.write_text(rest, encoding="utf-8")
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{shown}: removed {count} lines of dicts (check its imports: ruff check {shown})")
    template = extract()
    runtime = [k for k in moved if template.get(k) is None]
    if runtime:
        # Texts of a dict that no _()/gettext()/keep() literal names: translated from a value
        # (a status, an event name). N_() makes the extractor keep them in the catalog.
        with WORDS.open("a", encoding="utf-8") as f:
            f.write("\n# Moved from a dict by scripts/i18n absorb: check that each is translated at run time.\n")
            f.write("ABSORBED = (\n" + "".join(f"    N_({k!r}),\n" for k in runtime) + ")\n")
        print(f"{len(runtime)} texts named by no literal call went to {WORDS.relative_to(ROOT)} "
              f"(delete those the code no longer uses)")
    print(f"{len(moved)} texts moved into {po_path.relative_to(ROOT)}")
    return update()


# ----------------------------------------------------------------------------- commands


def update(*, drop_obsolete: bool = False) -> int:
    template = extract()
    write(TEMPLATE, template, template=True)
    for path in po_files():
        catalog = read(path)
        merge(catalog, template)
        for message in list(catalog):  # English: only the value words (see VALUE_WORD)
            if message.id and not needs_translation(str(catalog.locale), message.id):
                catalog.delete(message.id, message.context)
        if drop_obsolete:
            catalog.obsolete.clear()
        write(path, catalog)
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"{path.relative_to(ROOT)}: {len(catalog)} texts, {missing} untranslated, "
              f"{sum(1 for m in catalog if m.fuzzy and m.id)} fuzzy, {len(catalog.obsolete)} obsolete")
    return 0


def check() -> int:
    template = extract()
    found = [p for path in po_files() for p in problems(template, read(path), path)]
    found += untranslated_errors()
    print("\n".join(found) or f"{len(template)} texts, all translated")
    return 1 if found else 0


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "extract":
        write(TEMPLATE, extract(), template=True)
        print(TEMPLATE.relative_to(ROOT))
        return 0
    if command == "update":
        return update(drop_obsolete="--drop-obsolete" in args)
    if command == "compile":
        sys.path.insert(0, str(ROOT))
        from engine.i18n import compile_catalogs

        for mo in compile_catalogs(CATALOGS, CATALOGS, force=True):
            print(mo.relative_to(ROOT))
        return 0
    if command == "check":
        return check()
    if command == "absorb":
        return absorb(args)
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
