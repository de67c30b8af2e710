"""The direction of imports (docs/architecture.md): web, cli -> app -> {language, runtime, store};
runtime -> language; language and runtime import neither Flask nor SQLAlchemy; nothing
imports web except the one command that serves it.

Checked on the source (every import statement, also those inside functions), and once more
by importing the pure packages in a fresh interpreter, so an import hidden behind a
re-export is caught as well."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEB_FRAMEWORKS = {"flask", "werkzeug", "jinja2.ext"}
DATABASE = {"sqlalchemy", "alembic", "psycopg", "sqlite3"}

# What each package may not import (prefix match on the imported module's dotted name).
FORBIDDEN = {
    "engine.language": {"engine.runtime", "engine.app", "engine.store", "engine.cli", "web",
                        *WEB_FRAMEWORKS, *DATABASE},
    "engine.runtime": {"engine.app", "engine.store", "engine.cli", "web", *WEB_FRAMEWORKS, *DATABASE},
    "engine.store": {"engine.app", "engine.runtime", "engine.cli", "web", *WEB_FRAMEWORKS},
    "engine.app": {"engine.cli", "web", *WEB_FRAMEWORKS},
    "engine.cli": {"engine.store", "web", *WEB_FRAMEWORKS, *DATABASE},
    "web": {"engine.store", *DATABASE},
}
# Werkzeug's password hashing is not HTTP: the store hashes passwords with it.
NOT_WEB = ("werkzeug.security",)
# The composition root: `wf serve` builds the web app it serves (and names Flask's type).
ALLOWED = {("engine.cli.serve", "web"), ("engine.cli.serve", "flask")}
# Modules that still reach past the application layer; the list may only shrink (the test
# below fails when an entry is no longer needed, so it cannot go stale).
KNOWN: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources() -> list[Path]:
    return sorted(p for top in ("engine", "web") for p in (ROOT / top).rglob("*.py")
                  if "migrations" not in p.parts)


def layer_of(module: str) -> str | None:
    return max((layer for layer in FORBIDDEN if module == layer or module.startswith(layer + ".")),
               key=len, default=None)


def matches(imported: str, prefix: str) -> bool:
    return imported == prefix or imported.startswith(prefix + ".")


def violations() -> set[tuple[str, str]]:
    found = set()
    for path in sources():
        module = module_name(path)
        layer = layer_of(module)
        if layer is None:
            continue
        for imported in imports_of(path):
            if any(matches(imported, allowed) for allowed in NOT_WEB):
                continue
            for prefix in FORBIDDEN[layer]:
                if matches(imported, prefix) and (module, prefix) not in ALLOWED:
                    found.add((module, prefix))
    return found


def test_imports_point_one_way():
    new = sorted(violations() - KNOWN)
    assert not new, "imports against the layering (module, forbidden package):\n" + "\n".join(
        f"  {m} imports {p}" for m, p in new)


def test_known_exceptions_are_still_needed():
    stale = sorted(KNOWN - violations())
    assert not stale, f"remove these from KNOWN in tests/test_layers.py: {stale}"


def test_the_checker_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The probe: a web module that imports the store must be reported."""
    probe = ROOT / "web" / "_layer_probe.py"
    probe.write_text("def f():\n    from engine.store import tables\n    from sqlalchemy import select\n")
    try:
        assert {("web._layer_probe", "engine.store"), ("web._layer_probe", "sqlalchemy")} <= violations()
    finally:
        probe.unlink()


@pytest.mark.parametrize("package", ["engine.language", "engine.runtime"])
def test_pure_packages_load_without_web_or_database(package):
    modules = sorted(module_name(p) for p in (ROOT / package.replace(".", "/")).rglob("*.py"))
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'werkzeug', 'alembic', 'psycopg', 'web'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "", f"{package} pulled in: {out.stdout}"


def test_every_package_is_on_the_map():
    """docs/architecture.md names every package with its job."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted({module_name(p.parent / "__init__.py") for p in sources()
                       if p.name == "__init__.py"})
    missing = [p for p in packages if f"`{p.replace('.', '/')}/`" not in text]
    assert not missing, f"docs/architecture.md does not describe: {missing}"


def module_imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules ``path`` imports when it is loaded: module-level statements only (an
    import inside a function or under ``if TYPE_CHECKING`` runs later or never). ``from
    package import submodule`` depends on the submodule, not on the package's __init__."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= subs
            if len(subs) < len(node.names):
                found.add(node.module)
    return found & modules


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in sources()}
    return {m: module_imports(p, set(paths)) - {m} for m, p in paths.items()}


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, f"modules that import each other at load time: {found}"


def test_the_cycle_finder_finds_one():
    graph = import_graph()
    graph["engine.language.expressions"] = graph["engine.language.expressions"] | {"engine.language.procedure"}
    assert any("engine.language.procedure" in c and "engine.language.expressions" in c
               for c in cycles(graph))
