"""``wf org``: import, export (round trip), show, and single changes from the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main

CHART = ("kind,id,name,parent,head,department,manager\n"
         "department,gm,总经理办公室,,boss,,\n"
         "department,quality,质量部,gm,qhead,,\n"
         "user,qhead,,,,quality,\n"
         "user,li,,,,quality,\n")


@pytest.fixture
def wf(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    monkeypatch.setenv("WF_CONFIG", str(tmp_path / "missing.yaml"))
    runner = CliRunner()

    def run(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin)

    for name in ("boss", "qhead", "li"):
        assert run("user", "add", name, "--full-name", name.upper(), "--password-stdin",
                   stdin="a long passphrase 7\n").exit_code == 0
    return run


def test_import_show_export_round_trip(wf, tmp_path):
    source = tmp_path / "org.csv"
    source.write_bytes(("\ufeff" + CHART).encode("utf-8"))  # as Excel saves it
    r = wf("org", "import", str(source))
    assert r.exit_code == 0, r.output
    assert "Imported 2 departments and 2 users" in r.output
    shown = wf("org", "show").output
    assert "总经理办公室 [gm]  head: boss" in shown
    assert "  质量部 [quality]  head: qhead" in shown
    assert "- li (LI)  reports to: qhead" in shown and "- qhead (QHEAD)  reports to: boss" in shown
    out = tmp_path / "out.csv"
    assert wf("org", "export", str(out)).exit_code == 0
    assert wf("org", "import", str(out)).exit_code == 0
    again = tmp_path / "again.csv"
    wf("org", "export", str(again))
    assert again.read_bytes() == out.read_bytes()
    assert wf("org", "export").output.startswith("kind,id,name,parent,head,department,manager")


def test_a_bad_file_prints_every_problem_and_imports_nothing(wf, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(CHART, encoding="utf-8")
    wf("org", "import", str(good))
    before = wf("org", "export").output
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,id,name,parent,head,department,manager\n"
                   "department,gm,总经理办公室,,ghost,,\n"
                   "user,li,,,,sales,\n", encoding="utf-8")
    r = wf("org", "import", str(bad))
    assert r.exit_code == 1
    assert f"{bad}:2:5: department 'gm': head 'ghost' is not a user" in r.output
    assert f"{bad}:3:6: user 'li': department 'sales' is not a department" in r.output
    assert "2 problem(s); nothing was imported." in r.output
    assert wf("org", "export").output == before
    assert wf("org", "import", str(tmp_path / "missing.csv")).exit_code == 1


def test_single_changes(wf, tmp_path):
    wf("org", "import", "-", stdin=CHART)
    assert wf("org", "department", "lab", "--add", "--name", "实验室", "--parent", "quality").exit_code == 0
    assert wf("org", "department", "lab", "--head", "li").exit_code == 0
    assert wf("org", "user", "li", "--department", "lab").exit_code == 0
    shown = wf("org", "show").output
    assert "    实验室 [lab]  head: li" in shown and "- li (LI)  reports to: qhead" in shown
    r = wf("org", "department", "gm", "--parent", "lab")
    assert r.exit_code == 1 and "department 'gm' is inside itself: gm → lab → quality → gm" in r.output
    r = wf("user", "manager", "boss", "li")
    assert r.exit_code == 1 and "go round in a loop" in r.output
    assert wf("org", "user", "li").exit_code == 2  # nothing to change
