"""The schema as operators meet it: ``wf db current`` says by its exit code whether the
database needs ``wf db upgrade``; ``wf db upgrade`` says what it did; a server (or an
upgrade) run as a role that does not own the tables refuses an old schema in one line
instead of a traceback from the half-tried migration."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.config import load_config
from engine.store import head_revision
from engine.store.db import downgrade
from tests.helpers.service import config

HEAD = head_revision()
BEFORE = "0020_version_note_message"  # the revision before HEAD


def _wf(url: str, *args: str):
    env = {"WF_DATABASE_URL": url, "WF_CONFIG": str(config().root / "config.yaml")}
    return CliRunner(env=env).invoke(main, list(args))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_db_current_exits_1_until_upgraded_and_upgrade_says_what_it_did(unmigrated_db_url):
    shown = load_config(config().root / "config.yaml", overrides={"database.url": unmigrated_db_url})
    from engine.app.admin import shown_url

    url = shown_url(shown)
    current = _wf(unmigrated_db_url, "db", "current")
    assert current.exit_code == 1
    assert current.output == f"{url}: revision none, needed {HEAD} (run `wf db upgrade`)\n"
    upgraded = _wf(unmigrated_db_url, "db", "upgrade", "--revision", BEFORE)
    assert upgraded.exit_code == 0
    assert upgraded.output == f"Database {url} migrated to schema revision {BEFORE} (from none).\n"
    assert _wf(unmigrated_db_url, "db", "current").exit_code == 1
    upgraded = _wf(unmigrated_db_url, "db", "upgrade")
    assert upgraded.output == f"Database {url} migrated to schema revision {HEAD} (from {BEFORE}).\n"
    again = _wf(unmigrated_db_url, "db", "upgrade")
    assert again.exit_code == 0
    assert again.output == f"Database {url} was already at schema revision {HEAD}; nothing to do.\n"
    current = _wf(unmigrated_db_url, "db", "current")
    assert current.exit_code == 0 and current.output == f"{url}: revision {HEAD}, needed {HEAD} (up to date)\n"


@pytest.fixture
def old_schema(db_url):
    """The test's database one migration behind this program (as after a release upgrade
    whose `wf db upgrade` was forgotten)."""
    assert downgrade(db_url, BEFORE) == BEFORE
    return db_url


def test_serve_as_a_role_that_does_not_own_the_tables_refuses_an_old_schema_in_one_line(old_schema, pg_role):
    role_url = pg_role(server=True)
    # --dev: no metrics folder; this process must not be left in prometheus multiprocess mode
    served = _wf(role_url, "serve", "--dev", "--port", str(_free_port()))
    assert served.exit_code == 1 and isinstance(served.exception, SystemExit), served.output
    assert "Serving on" not in served.output
    assert served.output.count("\n") == 1, served.output
    assert served.output.startswith(f"Error: The database {role_url} is at schema revision {BEFORE}, "
                                    f"this program needs {HEAD}; run `wf db upgrade` first")
    assert "as the owner of its tables" in served.output and "must be owner of table" in served.output
    # `wf db upgrade` as the same role says the same, and nothing was changed.
    upgraded = _wf(role_url, "db", "upgrade")
    assert upgraded.exit_code == 1 and isinstance(upgraded.exception, SystemExit), upgraded.output
    assert upgraded.output.count("\n") == 1 and "as the owner of its tables" in upgraded.output
    assert f"revision {BEFORE}, needed {HEAD}" in _wf(old_schema, "db", "current").output
    assert _wf(old_schema, "db", "upgrade").exit_code == 0  # as the owner it migrates
