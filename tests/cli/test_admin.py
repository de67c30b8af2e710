"""``wf`` commands over the application layer (engine/app/admin.py): a command never
migrates or fills a database as a side effect, and refuses an out-of-date one with the
command that fixes it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main


@pytest.fixture
def wf(unmigrated_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", unmigrated_db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    runner = CliRunner()
    return lambda *args, stdin=None: runner.invoke(main, list(args), input=stdin)


@pytest.mark.parametrize("command", [("user", "list"), ("procedures", "list"), ("worker", "--once"),
                                     ("audit", "kpis"), ("user", "add", "li", "--password-stdin")])
def test_commands_refuse_a_database_without_schema_and_leave_it_alone(wf, command):
    result = wf(*command, stdin="a long passphrase 7\n")
    assert result.exit_code == 1, result.output
    assert "schema revision none" in result.output and "run `wf db upgrade` first" in result.output
    assert "revision none" in wf("db", "current").output  # nothing was migrated on the way


def test_user_commands_and_an_empty_library(wf):
    assert wf("db", "upgrade").exit_code == 0
    assert "up to date" in wf("db", "current").output
    assert wf("procedures", "list").output == "No procedures installed; run `wf procedures load`.\n"
    assert wf("user", "add", "boss", "--full-name", "老板", "--password-stdin", stdin="a long passphrase 7\n").exit_code == 0
    added = wf("user", "add", "li", "--group", "b", "--group", "a", "--manager", "boss", "--password-stdin",
               stdin="a long passphrase 7\n")
    assert added.output == "Created user li (groups: a, b).\n"
    assert wf("user", "manager", "li", "ghost").exit_code == 1
    assert wf("user", "list").output.splitlines() == ["boss\t老板\t-", "li\t-\ta,b\tmanager: boss"]
    assert wf("user", "passwd", "ghost", "--password-stdin", stdin="x\n").exit_code == 1
    assert wf("user", "list").output.count("\n") == 2  # no user registered by the failed commands
    assert wf("procedures", "list").output.startswith("No procedures installed")  # nor procedures


def test_a_key_given_twice_in_the_config_is_refused_at_its_line(tmp_path):
    """config.yaml is read as procedures are: the later of two equal keys silently won (the
    shipped file had a dead `uploads:`); now the command says where, and stops."""
    from pathlib import Path

    from engine.config import load_config

    bad = tmp_path / "config.yaml"
    bad.write_text("locale: zh\nuploads:\n  max_bytes: 10\nlocale: en\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["--config", str(bad), "procedures", "list"])
    assert out.exit_code == 1
    assert f"{bad}:4:1: duplicate key 'locale' (first given on line 1); remove one of them" in out.output
    shipped = Path(__file__).resolve().parents[2] / "config.yaml"
    assert load_config(shipped).path("paths", "uploads", default="") == shipped.parent / "var/uploads"
