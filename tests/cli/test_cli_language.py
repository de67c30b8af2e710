"""The wf command speaks the operator's language: the shell's (LC_ALL, LC_MESSAGES, LANG, as
every Unix command reads it), or ``--lang`` / ``WF_LANG``. Its own lines, the engine's errors
and the validator's problems all follow it; a command run in-process leaves the language
English for what runs after it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import i18n
from engine.cli import main, shell_locale
from tests.helpers.service import config

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "invalid" / "bad-on-reject.yaml"
NO_LANGUAGE = {"WF_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None}


@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({}, "en"),
    ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),  # LC_ALL wins
    ({"LC_ALL": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, "en"),
    ({"LC_ALL": "", "LC_MESSAGES": "zh_CN.UTF-8", "LANG": "C"}, "zh"),  # an empty one is unset
])
def test_the_shell_locale_decides_as_unix_commands_read_it(environ, expected):
    assert shell_locale(environ) == expected


def _validate(**env: str | None):
    return CliRunner().invoke(main, ["validate", str(BAD)], env={**NO_LANGUAGE, **env})


def test_a_chinese_shell_reads_the_validator_in_chinese():
    result = _validate(LANG="zh_CN.UTF-8")
    assert result.exit_code == 1
    # The place stays as the file says it; the message and the summary are Chinese.
    assert f"{BAD}:13:16:" in result.stdout and f"{BAD}:8:47:" in result.stdout
    assert "inspekt" in result.stdout and "unknown step" not in result.stdout
    assert "发现 2 个问题。" in result.stderr
    assert i18n.current_locale() == "en"  # nothing after the command speaks Chinese by accident


def test_lang_and_wf_lang_override_the_shell():
    english = CliRunner().invoke(main, ["--lang", "en", "validate", str(BAD)],
                                 env={**NO_LANGUAGE, "LANG": "zh_CN.UTF-8"})
    assert "unknown step 'inspekt'; did you mean 'inspect'?" in english.stdout
    assert "2 problem(s) found." in english.stderr
    chinese = _validate(WF_LANG="zh", LANG="C.UTF-8")
    assert "发现 2 个问题。" in chinese.stderr
    unknown = _validate(WF_LANG="fr")
    assert unknown.exit_code == 2 and "'fr' is not one of 'zh', 'en'" in unknown.output


def test_a_cron_job_without_a_locale_reads_english():
    result = _validate()
    assert "unknown step 'inspekt'" in result.stdout and "2 problem(s) found." in result.stderr


def test_an_operators_mistake_and_the_engines_refusal_read_in_chinese(db_url, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(config().root / "config.yaml"))
    runner = CliRunner()
    env = {**NO_LANGUAGE, "LANG": "zh_CN.UTF-8"}
    added = runner.invoke(main, ["user", "add", "li", "--group", "admins", "--password-stdin"],
                          input="a long passphrase 7\n", env=env)
    assert added.exit_code == 0 and added.stdout == "已创建用户 li（用户组：admins）。\n"
    # An error the engine raises (no such user) reaches the operator in their language.
    missing = runner.invoke(main, ["user", "manager", "li", "nobody"], env=env)
    assert missing.exit_code == 1
    assert "nobody" in missing.output and "There is no user" not in missing.output
    # The command line's own usage mistakes too.
    both = runner.invoke(main, ["user", "groups", "li", "admins", "--add", "x"], env=env)
    assert both.exit_code == 2 and "不能同时给出" in both.output
    assert i18n.current_locale() == "en"


def test_the_generated_procedures_page_does_not_follow_the_shell(tmp_path):
    """docs/procedures.md is a committed file: its --check passes in any shell."""
    out = tmp_path / "procedures.md"
    english = CliRunner().invoke(main, ["procedures", "doc", "-o", str(out)], env={**NO_LANGUAGE})
    assert english.exit_code == 0, english.output
    chinese = CliRunner().invoke(main, ["procedures", "doc", "-o", str(out), "--check"],
                                 env={**NO_LANGUAGE, "LANG": "zh_CN.UTF-8"})
    assert chinese.exit_code == 0, chinese.output
    assert "已是最新" in chinese.output
