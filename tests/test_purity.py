"""The procedure language can be used without a web framework or a database."""

from __future__ import annotations

import subprocess
import sys

PURE = ["engine.procedure", "engine.expr", "engine.runtime", "engine.forms", "engine.calendar", "engine.starts",
        "engine.simulate", "engine.yamlsrc", "engine.commands"]


def test_pure_modules_import_neither_flask_nor_sqlalchemy():
    code = (
        "import sys\n"
        f"for m in {PURE!r}: __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'werkzeug', 'alembic'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pure engine modules pulled in: {out.stdout}"
