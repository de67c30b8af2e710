"""The build step that compiles the translation catalogs (pyproject ``[tool.setuptools.cmdclass]``).

A wheel gets each ``messages.mo`` beside its ``.po``, so an installed server reads its catalog
without writing anything; an editable install (``pip install -e .``) gets it in the source
tree. ``engine.i18n`` still compiles a missing or stale ``.mo`` at first use, for a source tree
run without installing (the tests, a fresh clone) and for a ``.po`` edited after the install.
Imported by setuptools only, never by the server.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        # engine/i18n.py loaded by its path: an editable build runs this without the project
        # on sys.path (that module needs only the standard library and Babel).
        spec = importlib.util.spec_from_file_location("_qualityflow_i18n", Path(__file__).with_name("i18n.py"))
        assert spec is not None and spec.loader is not None
        i18n = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(i18n)
        source = i18n.CATALOGS
        target = source if self.editable_mode else Path(self.build_lib) / "engine" / "translations"
        i18n.compile_catalogs(source, target, force=True)
