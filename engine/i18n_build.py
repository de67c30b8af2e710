"""The build step that compiles the translation catalogs (pyproject ``[tool.setuptools.cmdclass]``).

A wheel gets each ``messages.mo`` beside its ``.po``, so an installed server reads its catalog
without writing anything; an editable install (``pip install -e .``) gets it in the source
tree. ``engine.i18n`` still compiles a missing or stale ``.mo`` at first use, for a source tree
run without installing (the tests, a fresh clone) and for a ``.po`` edited after the install.
Imported by setuptools only, never by the server.
"""

from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        from engine.i18n import CATALOGS, compile_catalogs

        target = CATALOGS if self.editable_mode else Path(self.build_lib) / "engine" / "translations"
        compile_catalogs(CATALOGS, target, force=True)
