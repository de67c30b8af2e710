"""``wf backup``, ``wf restore`` and the restore drill (``wf backup --verify``) on SQLite and
PostgreSQL: a backup taken while the data is there restores to the same trail; a backup an
insider edited fails the drill; nothing is overwritten by accident."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text

from engine.app import backup as backups
from engine.app.services import open_services
from engine.cli import main
from engine.config import load_config
from engine.store import Event, make_engine
from tests.helpers.service import add_users, config
from tests.helpers.tamper import insider


@pytest.fixture
def filled(db_url):
    """The database with three instances and their steps; the config pointing at it."""
    cfg = load_config(config().root / "config.yaml", overrides={"database.url": db_url})
    services = open_services(cfg)
    add_users(services.database.sessions)
    with services.database.writing() as s:
        for i in range(3):
            services.workflow.start(s, "after-sales-inspection", "inspector1",
                                    {"customer": f"客户{i}", "product_name": "监护仪", "serial_no": f"SN{i}",
                                     "quantity": 1})
    with services.database.reading() as s:
        events = s.scalar(select(func.count()).select_from(Event))
    services.database.engine.dispose()
    return cfg, events


def _wf(cfg, *args):
    env = {"WF_DATABASE_URL": cfg.database_url, "WF_CONFIG": str(cfg.root / "config.yaml")}
    return CliRunner(env=env).invoke(main, list(args))


def test_backup_then_the_restore_drill_passes(filled, tmp_path):
    cfg, events = filled
    path = tmp_path / "b" / "one.bak"
    result = _wf(cfg, "backup", str(path), "--verify")
    assert result.exit_code == 0, result.output
    assert "Backup written" in result.output
    assert f"Restore drill OK: the backup restored into a scratch database; {events} events in 3 instances" \
        in result.output
    # A backup never overwrites another.
    again = _wf(cfg, "backup", str(path))
    assert again.exit_code == 1 and "already exists" in again.output


def test_an_edited_backup_fails_the_drill(filled, tmp_path):
    cfg, _ = filled
    path = tmp_path / "edited.bak"
    backups.backup(cfg, path)
    if cfg.database_url.startswith("sqlite"):
        # An insider who owns the file drops the insert-only triggers, changes what a step
        # recorded and puts them back.
        with insider(make_engine(f"sqlite:///{path}")) as conn:
            conn.execute(text("UPDATE events SET data = json_set(data, '$.customer', '别的客户') "
                              "WHERE seq = (SELECT min(seq) FROM events)"))
    else:
        pytest.skip("editing a pg_dump archive is not this test's attack; the SQLite one covers the drill")
    result = _wf(cfg, "restore", str(path), "--verify-only")
    assert result.exit_code == 1 and "BROKEN" in result.output, result.output


def test_restore_refuses_a_database_with_data_unless_told(filled, tmp_path):
    cfg, events = filled
    path = tmp_path / "r.bak"
    backups.backup(cfg, path)
    refused = _wf(cfg, "restore", str(path))
    assert refused.exit_code == 1 and "--replace" in refused.output
    # Data written after the backup goes away with --replace: the backup's trail comes back.
    engine = create_engine(cfg.database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM field_index"))
    engine.dispose()
    result = _wf(cfg, "restore", str(path), "--replace")
    assert result.exit_code == 0, result.output
    verify = _wf(cfg, "audit", "verify")
    assert verify.exit_code == 0 and f"OK: {events} events in 3 instances" in verify.output


def test_a_file_that_is_not_a_backup_is_refused(filled, tmp_path):
    cfg, _ = filled
    junk = tmp_path / "junk.bak"
    junk.write_bytes(b"not a database" * 100)
    result = _wf(cfg, "restore", str(junk), "--verify-only")
    assert result.exit_code == 1 and ("not an SQLite backup" in result.output or "not a pg_dump backup" in result.output)


def test_the_drill_as_a_user_who_may_not_create_databases_says_so_and_keeps_the_backup(filled, pg_role, tmp_path):
    """The server's role has no CREATEDB: the backup was written, then the drill ended in a
    traceback (`permission denied to create database`). Now one line names the privilege and
    what to do, exit 1, and the backup stays."""
    cfg, _ = filled
    role_url = pg_role(server=True)
    role_cfg = load_config(cfg.root / "config.yaml", overrides={"database.url": role_url})
    path = tmp_path / "nightly.dump"
    result = _wf(role_cfg, "backup", str(path), "--verify")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Backup written" in result.output and path.stat().st_size > 0
    error = result.output.splitlines()[-1]
    assert error.startswith("Error: the restore drill needs a scratch database, and the database user ")
    assert "may not create databases (CREATEDB)" in error and "CREATEDB;" in error and "ALTER ROLE" in error
    assert f"the backup {path} is kept" in error
    again = _wf(role_cfg, "restore", str(path), "--verify-only")
    assert again.exit_code == 1 and isinstance(again.exception, SystemExit), again.output
    assert "may not create databases (CREATEDB)" in again.output and "kept" not in again.output
    # As the owner (here the superuser) the same backup passes the drill.
    assert _wf(cfg, "restore", str(path), "--verify-only").exit_code == 0


def test_a_backup_of_the_other_kind_of_database_is_named_as_such(filled, tmp_path):
    """A SQLite backup restored against a PostgreSQL URL said `pg_restore failed: ... not a
    valid archive` (and a PostgreSQL dump against SQLite "not an SQLite backup"): now what
    the file is and where it restores."""
    cfg, _ = filled
    path = tmp_path / "b.bak"
    backups.backup(cfg, path)
    if cfg.database_url.startswith("sqlite"):
        other = "postgresql+psycopg://nobody@127.0.0.1:1/never_connected"  # refused before connecting
        expected = (f"Error: {path} is a SQLite backup; restore it into SQLite "
                    "(a sqlite:/// URL in WF_DATABASE_URL or database.url)")
    else:
        other = f"sqlite:///{tmp_path / 'copy.db'}"
        expected = (f"Error: {path} is a PostgreSQL backup (pg_dump); restore it into PostgreSQL "
                    "(a postgresql+psycopg:// URL in WF_DATABASE_URL or database.url)")
    other_cfg = load_config(cfg.root / "config.yaml", overrides={"database.url": other})
    for args in (("restore", str(path)), ("restore", str(path), "--verify-only")):
        result = _wf(other_cfg, *args)
        assert result.exit_code == 1, result.output
        assert result.output.splitlines()[-1] == expected
    assert not (tmp_path / "copy.db").exists()


def test_an_older_backup_passes_the_drill_after_newer_heads_were_anchored(filled, tmp_path, monkeypatch):
    """A backup holds the trail up to its own time: heads anchored after it are not missing
    from it. The drill checked it against the whole anchor file and said 'anchored event
    missing ... the instance was deleted' (and counted breaks, not instances: '5 of 4')."""
    cfg, events = filled
    anchors = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("WF_AUDIT_ANCHORS", str(anchors))
    assert _wf(cfg, "audit", "anchor").exit_code == 0
    old = tmp_path / "old.bak"
    backups.backup(cfg, old)
    services = open_services(cfg)
    with services.database.writing() as s:
        services.workflow.start(s, "after-sales-inspection", "inspector1",
                                {"customer": "新客户", "product_name": "监护仪", "serial_no": "SN9", "quantity": 1})
    services.database.engine.dispose()
    assert _wf(cfg, "audit", "anchor").exit_code == 0
    assert len(anchors.read_text(encoding="utf-8").splitlines()) == 2
    result = _wf(cfg, "restore", str(old), "--verify-only")
    assert result.exit_code == 0, result.output
    assert f"{events} events in 3 instances" in result.output
    assert "1 chain head(s) anchored after this backup's last event" in result.output
    assert _wf(cfg, "audit", "verify").exit_code == 0  # the live database: every anchor counts
    # a head the backup holds but with another hash is broken whenever it was anchored
    forged = tmp_path / "forged.jsonl"
    lines = anchors.read_text(encoding="utf-8").splitlines()
    import json
    first = json.loads(lines[0])
    iid = sorted(first["heads"])[0]
    first["heads"] = {iid: [first["heads"][iid][0], "f" * 64]}
    from engine.store.audit import canonical_json
    forged.write_text(canonical_json(first) + "\n", encoding="utf-8")
    monkeypatch.setenv("WF_AUDIT_ANCHORS", str(forged))
    result = _wf(cfg, "restore", str(old), "--verify-only")
    assert result.exit_code == 1 and "anchored head differs" in result.output, result.output
    assert "FAILED" in result.output
