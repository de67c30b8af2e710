"""What an operator who follows the README and docs/operations.md meets when they slip:
a database a newer release migrated, a backup written where it cannot be, a database URL
mistyped or not answering, a restore over a running server. Each is one sentence naming
the place and the fix, with exit 1: never a Python traceback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.cli import main
from engine.store import make_engine
from tests.helpers.service import config

FUTURE = "0099_from_a_newer_release"


def _wf(url: str, *args: str, **env: str):
    env = {"WF_DATABASE_URL": url, "WF_CONFIG": str(config().root / "config.yaml"), **env}
    return CliRunner(env=env).invoke(main, list(args))


def _one_sentence(result) -> str:
    """The error a command printed, checked to be an error line and not a traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result.output


@pytest.fixture
def newer_db(db_url):
    """The test's database as a newer release left it: at a revision this program does not ship."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})
    engine.dispose()
    return db_url


def test_db_upgrade_on_a_database_of_a_newer_release_says_to_install_that_release(newer_db):
    out = _one_sentence(_wf(newer_db, "db", "upgrade"))
    assert FUTURE in out and "newer release" in out and "run `wf db upgrade`" not in out
    current = _wf(newer_db, "db", "current")
    assert current.exit_code == 1 and "newer release" in current.output
    assert "run `wf db upgrade`" not in current.output
    listed = _one_sentence(_wf(newer_db, "user", "list"))
    assert "newer release" in listed and "run `wf db upgrade`" not in listed


def _sqlite_only(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("a SQLite backup file")


def test_a_backup_where_no_file_can_be_written_names_the_place(db_url, tmp_path):
    _sqlite_only(db_url)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    out = _one_sentence(_wf(db_url, "backup", str(blocker / "qf.db")))
    assert str(blocker) in out and "choose" in out
    assert not list(tmp_path.glob("**/*.partial"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_backup_into_a_read_only_folder_names_the_place(db_url, tmp_path):
    _sqlite_only(db_url)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        out = _one_sentence(_wf(db_url, "backup", str(folder / "qf.db")))
    finally:
        folder.chmod(0o755)
    assert str(folder) in out


def test_a_restore_into_a_folder_that_cannot_be_written_names_the_place(db_url, tmp_path):
    _sqlite_only(db_url)
    made = _wf(db_url, "backup", str(tmp_path / "qf.db"))
    assert made.exit_code == 0, made.output
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    out = _one_sentence(_wf(f"sqlite:///{blocker / 'new.db'}", "restore", str(tmp_path / "qf.db")))
    assert str(blocker) in out


@pytest.mark.parametrize("url", ["postgres://wf@127.0.0.1/workflow", "var/workflow.db",
                                 "postgresql+psycopg://wf@127.0.0.1:1/workflow"])
def test_a_database_url_that_is_wrong_or_does_not_answer_is_one_sentence(url):
    for args in (("db", "upgrade"), ("db", "current"), ("user", "list"), ("audit", "verify"),
                 ("worker", "--once")):
        out = _one_sentence(_wf(url, *args))
        assert "WF_DATABASE_URL" in out, out


def _holding(db_url: str) -> subprocess.Popen:
    """Another process with the database open, as a running server or worker has it."""
    if db_url.startswith("sqlite"):
        code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=WAL'); "
                "c.execute('SELECT count(*) FROM users').fetchone(); print('open', flush=True); sys.stdin.read()")
        arg = db_url.removeprefix("sqlite:///")
    else:
        code = ("import psycopg, sys; c = psycopg.connect(sys.argv[1]); c.execute('SELECT 1'); "
                "print('open', flush=True); sys.stdin.read()")
        arg = db_url.replace("postgresql+psycopg://", "postgresql://")
    proc = subprocess.Popen([sys.executable, "-c", code, arg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


def test_restore_over_a_database_a_server_has_open_is_refused(db_url, tmp_path):
    backup = tmp_path / ("qf.db" if db_url.startswith("sqlite") else "qf.dump")
    made = _wf(db_url, "backup", str(backup))
    assert made.exit_code == 0, made.output
    server = _holding(db_url)
    try:
        out = _one_sentence(_wf(db_url, "restore", str(backup), "--replace"))
        assert "stop the server" in out and "nothing was changed" in out
        if db_url.startswith("sqlite"):
            assert Path(db_url.removeprefix("sqlite:///") + "-wal").exists()  # its log was left alone
    finally:
        server.communicate("")
    done = _wf(db_url, "restore", str(backup), "--replace")
    assert done.exit_code == 0, done.output


def test_an_emptied_secret_key_file_gets_a_new_key_instead_of_a_500_at_every_sign_in(db_url, tmp_path, monkeypatch):
    """`: > var/secret_key` (or a copy that lost its content) left the server starting with
    an empty key, and every page that opens a session answered 500."""
    from web import create_app

    monkeypatch.delenv("WF_SECRET_KEY", raising=False)
    key_file = tmp_path / "secret_key"
    key_file.write_text("\n")
    app = create_app({"WF_CONFIG": str(config().root / "config.yaml"), "TESTING": True,
                      "WF_OVERRIDES": {"database.url": db_url, "paths.secret_file": str(key_file)}})
    try:
        assert len(app.config["SECRET_KEY"]) >= 32
        assert key_file.read_text().strip() == app.config["SECRET_KEY"]
        assert app.test_client().get("/login").status_code == 200
    finally:
        app.extensions["services"].database.engine.dispose()


def _config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (config().root / "config.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("old", "new", "words"), [
    ("locale: zh", "loclae: zh", "unknown setting 'loclae'; did you mean 'locale'?"),
    ("  token_hours: 8", "  token_hour: 8", "unknown setting 'auth.token_hour'; did you mean 'token_hours'?"),
    ("    min_length: 10", "    min_length: ten", "auth.password.min_length must be a whole number, not 'ten'"),
    ("  max_bytes: 10485760", "  max_bytes: 10MB", "uploads.max_bytes must be a whole number, not '10MB'"),
    ("audit:\n  auditor_groups: [auditors]", "audit:\n  auditor_groups: auditors",
     "audit.auditor_groups must be a list"),
])
def test_a_mistyped_or_mistaken_setting_is_refused_at_its_line(db_url, tmp_path, old, new, words):
    """A typo'd key was silently ignored (the default applied without a word), and a value of
    the wrong type stopped whichever page or command first read it with a traceback."""
    path = _config_with(tmp_path, old, new)
    line = _line_of(path, new.splitlines()[-1].strip())
    for args in (("db", "current"), ("user", "list")):
        result = CliRunner(env={"WF_DATABASE_URL": db_url, "WF_CONFIG": str(path)}).invoke(main, list(args))
        out = _one_sentence(result)
        assert f"{path}:{line}:" in out and words in out, out


def test_the_shipped_config_has_no_unknown_setting(db_url):
    result = _wf(db_url, "db", "current")
    assert result.exit_code == 0, result.output


def test_two_upgrades_at_once_take_turns(unmigrated_db_url):
    """Two `wf db upgrade` (or two servers starting, which migrate too) on a new PostgreSQL
    database at once: the second failed with a duplicate key in pg_type and a traceback."""
    from engine.store import head_revision

    env = {**os.environ, "WF_DATABASE_URL": unmigrated_db_url, "WF_CONFIG": str(config().root / "config.yaml")}
    wf = str(Path(sys.executable).with_name("wf"))
    runs = [subprocess.Popen([wf, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(2)]
    outs = [r.communicate(timeout=120)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    assert sorted("migrated" in o for o in outs) == [False, True], outs
    assert all(head_revision() in o and "Traceback" not in o for o in outs), outs


def test_metrics_when_the_database_is_gone_still_answer_and_say_so(db_url, tmp_path, monkeypatch):
    """/metrics answered 500 (an HTML error page) while the database did not answer, so the
    scrape lost the request counters too and nothing said which part was down."""
    _sqlite_only(db_url)
    from web import create_app

    monkeypatch.setenv("WF_SECRET_KEY", secrets.token_urlsafe(48))
    app = create_app({"WF_CONFIG": str(config().root / "config.yaml"), "TESTING": True,
                      "WF_OVERRIDES": {"database.url": db_url}})
    client = app.test_client()
    up = client.get("/metrics")
    assert up.status_code == 200 and "qualityflow_database_up 1.0" in up.text and "qualityflow_open_tasks" in up.text
    live = Path(db_url.removeprefix("sqlite:///"))
    live.rename(tmp_path / "moved.db")
    live.mkdir()  # nothing SQLite can open where the database was
    app.extensions["services"].database.engine.dispose()
    down = client.get("/metrics")
    assert down.status_code == 200, down.text[:200]
    assert "qualityflow_database_up 0.0" in down.text and "qualityflow_open_tasks" not in down.text
    assert "qualityflow_http_requests_total" in down.text
    assert client.get("/readyz").status_code == 503


def test_a_missing_procedures_folder_names_the_setting_that_points_there(db_url, tmp_path, monkeypatch):
    """`WF_PROCEDURES_DIR` (or paths.procedures) naming a folder that is not there said only
    `PATH:1:1: no such file or folder`, not which setting to correct."""
    import socket

    # `wf serve` run in this process points the metrics at a folder of its own: put the
    # variable back afterwards for the tests that follow.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    missing = tmp_path / "procedurs"
    for args in (("procedures", "load"), ("serve", "--port", port)):
        out = _one_sentence(_wf(db_url, *args, WF_PROCEDURES_DIR=str(missing)))
        assert str(missing) in out and "WF_PROCEDURES_DIR" in out, out


def test_a_backup_of_a_newer_release_is_refused_before_it_replaces_anything(newer_db, db_url, tmp_path):
    """Restored with --replace, such a backup overwrote the working database and then every
    command refused the result."""
    _sqlite_only(db_url)
    backup = tmp_path / "newer.db"
    assert _wf(newer_db, "backup", str(backup)).exit_code == 0
    target = tmp_path / "working.db"
    engine = make_engine(f"sqlite:///{target}")
    from engine.store import upgrade

    upgrade(engine)
    engine.dispose()
    before = target.read_bytes()
    out = _one_sentence(_wf(f"sqlite:///{target}", "restore", str(backup), "--replace"))
    assert "newer release" in out and FUTURE in out and "nothing was changed" in out
    assert target.read_bytes() == before
    drill = _one_sentence(_wf(f"sqlite:///{target}", "restore", str(backup), "--verify-only"))
    assert "newer release" in drill


def _postgresql_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a pg_dump archive")


def _tables(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")).scalar() or 0)
    finally:
        engine.dispose()


def test_a_pg_dump_of_a_newer_release_is_refused_before_pg_restore_runs(newer_db, unmigrated_db_url, tmp_path):
    """The SQLite twin of this was refused first; a pg_dump of a newer release's database
    was handed to pg_restore, which filled the database with a schema every command then refused."""
    _postgresql_only(newer_db)
    backup = tmp_path / "newer.dump"
    assert _wf(newer_db, "backup", str(backup)).exit_code == 0
    out = " ".join(_one_sentence(_wf(unmigrated_db_url, "restore", str(backup))).split())
    assert "newer release" in out and FUTURE in out and "nothing was changed" in out, out
    assert _tables(unmigrated_db_url) == 0
    drill = _one_sentence(_wf(newer_db, "restore", str(backup), "--verify-only"))
    assert "newer release" in drill


def _pg_dump_version() -> str:
    done = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.split(") ", 1)[1].strip()  # "15.20 (Debian 15.20-0+deb12u1)" -> "15.20"


@pytest.mark.parametrize("newer", ["archive format", "pg_dump and server version"])
def test_a_pg_dump_written_by_a_newer_pg_dump_is_refused_before_pg_restore_runs(db_url, tmp_path, newer):
    """A dump from a newer PostgreSQL (its pg_dump, its server) went to this machine's older
    pg_restore: at best its own error line ("unsupported version (1.16) in file header"),
    at worst a restore stopped half-way through, after --clean had dropped the tables."""
    _postgresql_only(db_url)
    backup = tmp_path / "qf.dump"
    assert _wf(db_url, "backup", str(backup)).exit_code == 0
    data = bytearray(backup.read_bytes())
    said = "archive format 1.99"
    if newer == "archive format":
        data[6] = 99  # PGDMP, then the archive's major, minor, revision: 1.99.0
    else:
        version = _pg_dump_version()
        major = version.split(".")[0]
        later = version.replace(major, str(int(major) + 3), 1).encode()
        assert version.encode() in data
        data = bytearray(bytes(data).replace(version.encode(), later))
        said = f"written by pg_dump {int(major) + 3}, newer than this machine's pg_restore {major}"
    backup.write_bytes(bytes(data))
    before = _tables(db_url)
    out = " ".join(_one_sentence(_wf(db_url, "restore", str(backup), "--replace")).split())
    assert "newer" in out and "nothing was changed" in out and str(backup) in out, out
    assert "pg_restore failed" not in out
    assert said in out, out
    assert _tables(db_url) == before and _wf(db_url, "db", "current").exit_code == 0
