"""What stops the server at start, in one line naming the setting or the path and the fix,
before anything is written: a secret key anyone could guess."""

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

