"""What stops the server (and the commands) at start, in one line naming the setting or the
path and the fix, before anything is written: a secret key anyone could guess, and a SQLite
database file that is gone from a folder that shows it was in use."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import WorkflowError
from tests.helpers.service import config

ROOT = config().root
GOOD_KEY = secrets.token_urlsafe(48)


def _app(db_url: str, **overrides: str):
    from web import create_app

    return create_app({"WF_CONFIG": str(ROOT / "config.yaml"), "TESTING": True,
                       "WF_OVERRIDES": {"database.url": db_url, **overrides}})


def _closed(app) -> None:
    app.extensions["services"].database.engine.dispose()


# --------------------------------------------------------------------------- the secret key


@pytest.mark.parametrize("key", ["x", "abcd1234", "bench-secret", "x" * 40, "abcdefgh" * 5])
def test_a_short_or_weak_secret_key_in_the_environment_is_refused_at_start(db_url, tmp_path, monkeypatch, key):
    """`WF_SECRET_KEY=x` signed every session cookie and API token with a key guessed at once,
    and nothing said so."""
    monkeypatch.setenv("WF_SECRET_KEY", key)
    with pytest.raises(WorkflowError) as refused:
        _app(db_url, **{"paths.secret_file": str(tmp_path / "secret_key")})
    words = refused.value.message
    assert "WF_SECRET_KEY" in words and "secrets.token_urlsafe(48)" in words, words
    assert key not in words  # a key, even a bad one, is not printed to a log
    assert not (tmp_path / "secret_key").exists()


def test_a_short_secret_key_in_config_yaml_names_the_file(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("WF_SECRET_KEY", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text((ROOT / "config.yaml").read_text(encoding="utf-8") + "\nsecret_key: changeme\n",
                    encoding="utf-8")
    from web import create_app

    with pytest.raises(WorkflowError) as refused:
        create_app({"WF_CONFIG": str(path), "WF_OVERRIDES": {"database.url": db_url,
                                                             "paths.procedures": str(ROOT / "procedures"),
                                                             "paths.forms": str(ROOT / "forms")}})
    assert f"secret_key in {path}" in refused.value.message, refused.value.message


def test_a_weak_key_written_into_the_key_file_names_the_file_and_the_way_out(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("WF_SECRET_KEY", raising=False)
    key_file = tmp_path / "secret_key"
    key_file.write_text("changeme\n")
    with pytest.raises(WorkflowError) as refused:
        _app(db_url, **{"paths.secret_file": str(key_file)})
    words = refused.value.message
    assert str(key_file) in words and "delete the file" in words, words
    assert key_file.read_text() == "changeme\n"  # nothing replaced behind the operator's back


def test_a_good_key_and_a_generated_one_are_taken(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WF_SECRET_KEY", GOOD_KEY)
    app = _app(db_url)
    try:
        assert app.config["SECRET_KEY"] == GOOD_KEY
    finally:
        _closed(app)
    monkeypatch.delenv("WF_SECRET_KEY")
    key_file = tmp_path / "secret_key"
    app = _app(db_url, **{"paths.secret_file": str(key_file)})
    try:
        assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    finally:
        _closed(app)
    again = _app(db_url, **{"paths.secret_file": str(key_file)})  # the generated key passes its own check
    _closed(again)


def test_wf_serve_with_a_short_key_stops_in_one_line_before_serving(db_url, tmp_path):
    env = {**os.environ, "WF_DATABASE_URL": db_url, "WF_CONFIG": str(ROOT / "config.yaml"),
           "WF_SECRET_KEY": "x"}
    done = subprocess.run([str(Path(sys.executable).with_name("wf")), "serve", "--port", "0", "--dev"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("Error: WF_SECRET_KEY is too short (1 character"), done.stderr
    assert "Traceback" not in done.stderr and "Serving on" not in done.stdout


# --------------------------------------------------------------------------- a database gone


def _instance(db_url: str, tmp_path: Path) -> dict[str, str]:
    """An installation in tmp_path as the README makes one: config.yaml there, the database
    at its default var/workflow.db (the test's SQLite file is there already)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("a SQLite file")
    assert Path(db_url.removeprefix("sqlite:///")) == tmp_path / "var" / "workflow.db"
    (tmp_path / "config.yaml").write_text((ROOT / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return {"WF_DATABASE_URL": db_url, "WF_CONFIG": str(tmp_path / "config.yaml"), "WF_PROCEDURES_DIR": str(ROOT / "procedures"),
            "WF_FORMS_DIR": str(ROOT / "forms"), "WF_SECRET_KEY": GOOD_KEY}


def _wf(env: dict[str, str], *args: str):
    from click.testing import CliRunner

    from engine.cli import main

    return CliRunner(env=env).invoke(main, list(args))


def _gone(db_url: str, tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """The installation's database used, backed up (`wf backup`, into var/backup) and then
    moved away with its companions; the environment, its path and the backup."""
    env = _instance(db_url, tmp_path)
    made = _wf(env, "backup")
    assert made.exit_code == 0, made.output
    backup = Path(made.output.split("Backup written: ", 1)[1].split(" (", 1)[0])
    assert backup.parent == tmp_path / "var" / "backup"
    live = tmp_path / "var" / "workflow.db"
    for part in ("", "-wal", "-shm"):
        if Path(f"{live}{part}").exists():
            Path(f"{live}{part}").rename(tmp_path / f"moved-away.db{part}")
    return env, live, backup


@pytest.mark.parametrize("args", [("db", "upgrade"), ("db", "current"), ("user", "list"), ("worker", "--once")])
def test_a_missing_database_file_where_one_was_in_use_is_not_silently_made_anew(db_url, tmp_path, args):
    """The SQLite file moved or deleted while var/ still held its backups: the next start made
    a new, empty database there, and every record seemed lost."""
    env, live, backup = _gone(db_url, tmp_path)
    done = _wf(env, *args)
    assert done.exit_code == 1 and "Traceback" not in done.output, done.output
    out = " ".join(done.output.split())
    assert f"The database file {live} is missing" in out, out
    assert f"wf restore {backup}" in out and "--new-database" in out, out
    assert not live.exists()  # nothing created where the record was


def test_the_web_app_refuses_it_too_and_writes_nothing(db_url, tmp_path, monkeypatch):
    env, live, _backup = _gone(db_url, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from web import create_app

    with pytest.raises(WorkflowError) as refused:
        create_app({"TESTING": True})
    assert f"The database file {live} is missing" in refused.value.message
    assert not live.exists() and not (tmp_path / "var" / "secret_key").exists()


def test_a_folder_left_with_only_the_key_and_uploads_still_counts(db_url, tmp_path):
    """Everything named workflow.db* deleted: var/ still holds the server's key and the
    uploaded files, so records were kept here."""
    env = _instance(db_url, tmp_path)
    env.pop("WF_SECRET_KEY")
    (tmp_path / "var" / "secret_key").write_text(GOOD_KEY)
    (tmp_path / "var" / "uploads" / "ab").mkdir(parents=True)
    (tmp_path / "var" / "uploads" / "ab" / "photo.jpg").write_bytes(b"jpeg")
    for companion in (tmp_path / "var").glob("workflow.db*"):
        companion.unlink()
    out = " ".join(_wf(env, "db", "upgrade").output.split())
    assert "is missing" in out and "secret_key" in out and "uploads" in out, out
    assert "wf restore BACKUP" in out, out  # no backup here to name


def test_starting_anew_takes_the_explicit_flag_and_restoring_needs_none(db_url, tmp_path):
    env, live, backup = _gone(db_url, tmp_path)
    restored = _wf(env, "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert _wf(env, "user", "list").exit_code == 0
    live.unlink()
    anew = _wf(env, "db", "upgrade", "--new-database")
    assert anew.exit_code == 0 and "migrated to schema revision" in anew.output, anew.output
    assert _wf(env, "user", "list").exit_code == 0  # made once: the next commands need no flag


def test_the_first_start_in_a_fresh_folder_needs_no_flag(tmp_path, monkeypatch):
    """A fresh clone (no var/ at all), and a var/ that holds nothing of a database: created
    as before, by the web app and by any command."""
    monkeypatch.setenv("WF_SECRET_KEY", GOOD_KEY)
    app = _app(f"sqlite:///{tmp_path / 'var' / 'workflow.db'}")
    _closed(app)
    other = tmp_path / "elsewhere" / "var"
    other.mkdir(parents=True)
    env = {"WF_DATABASE_URL": f"sqlite:///{other / 'workflow.db'}", "WF_CONFIG": str(ROOT / "config.yaml")}
    assert _wf(env, "db", "upgrade").exit_code == 0
