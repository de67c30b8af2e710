"""Issue 15, finding 7: files uploaded with a refused submission stayed on disk forever.
The worker now removes uploads that no instance and no draft holds once they are a day
old; a refused form keeps its files meanwhile (the user may fix another field and send it
again), bound files and files of saved drafts stay. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from engine.app import uploads
from engine.app.database import Database
from engine.app.services import Services
from engine.app.worker import Worker
from engine.store import Attachment, drafts, repo
from tests.helpers.service import answers, config, play, setup


def _services(engine, sessions, tmp_path):
    """The workflow with the shipped procedures, and its services with uploads under ``tmp_path``."""
    wf = setup(sessions)
    cfg = config()
    cfg.raw = {**cfg.raw, "paths": {**cfg.raw.get("paths", {}), "uploads": str(tmp_path / "uploads")}}
    return wf, Services(cfg, Database(engine), wf)


def _store(services, n: int) -> list[str]:
    posted = [uploads.Upload(f"f{i}", f"f{i}", f"note{i}.txt", io.BytesIO(b"x" * 100)) for i in range(n)]
    new, refused = uploads.store_files(services, "inspector1", posted)
    assert not refused
    return [new[f"f{i}"][0] for i in range(n)]


def test_unbound_uploads_are_swept_after_a_day_and_nothing_else(engine, sessions, tmp_path):
    wf, services = _services(engine, sessions, tmp_path)
    refused, drafted, bound = _store(services, 3)
    inst = play(wf, sessions, answers("after-sales-inspection--fail"), upto=1)
    with sessions.begin() as s:
        repo.attach(s, [bound], inst["id"], uploaded_by="inspector1")
        drafts.save(s, "inspector1", f"{inst['id']}.t1", {"photos": [drafted]}, services.now())
    with sessions() as s:
        paths = {a.id: Path(a.storage_path) for a in s.query(Attachment)}
    assert all(p.exists() for p in paths.values())

    assert uploads.sweep(services) == 0, "a refused form keeps its files for a day"
    assert uploads.sweep_sessions(sessions, services.now() + timedelta(days=1, minutes=1)) == 1
    assert not paths[refused].exists() and paths[drafted].exists() and paths[bound].exists()
    with sessions() as s:
        assert {a.id for a in s.query(Attachment)} == {drafted, bound}


def test_an_upload_id_copied_into_another_users_draft_does_not_keep_the_file(engine, sessions, tmp_path):
    """Someone who learns the id of another's abandoned upload saves it in a draft of their
    own: submitting it is refused (not their file), and it no longer keeps the file from the
    sweep. The uploader's own draft still does."""
    wf, services = _services(engine, sessions, tmp_path)
    abandoned, kept = _store(services, 2)
    inst = play(wf, sessions, answers("after-sales-inspection--fail"), upto=1)
    with sessions.begin() as s:
        drafts.save(s, "supervisor1", f"{inst['id']}.t1", {"photos": [abandoned, kept]}, services.now())
        drafts.save(s, "inspector1", f"{inst['id']}.t1", {"photos": [kept]}, services.now())
    assert uploads.sweep_sessions(sessions, services.now() + timedelta(days=1, minutes=1)) == 1
    with sessions() as s:
        assert {a.id for a in s.query(Attachment)} == {kept}


def test_the_worker_sweeps_on_each_pass(engine, sessions, tmp_path):
    wf, services = _services(engine, sessions, tmp_path)
    (old,) = _store(services, 1)
    with sessions() as s:
        path = Path(s.get(Attachment, old).storage_path)
    later = wf.clock() + timedelta(days=2)
    wf.clock = lambda: later
    stats = Worker(wf, sessions).run_once()
    assert stats.swept == 1 and not path.exists() and "unbound uploads removed: 1" in str(stats)


def test_a_file_bound_while_the_sweep_runs_keeps_its_file(engine, sessions, tmp_path, monkeypatch):
    """The sweep reads the unbound uploads, then deletes them: a submission that binds one of
    them in between keeps its row (the delete asks 'still unbound'), and now its file too;
    before, the file was unlinked all the same and the record's photo was gone."""
    from engine.store import upload_sweep

    wf, services = _services(engine, sessions, tmp_path)
    late, abandoned = _store(services, 2)
    inst = play(wf, sessions, answers("after-sales-inspection--fail"), upto=1)
    read = upload_sweep.unbound_before

    def read_then_bind(session, before, **kw):
        found = read(session, before, **kw)
        with sessions.begin() as s:  # the submission that commits between the two
            repo.attach(s, [late], inst["id"], uploaded_by="inspector1")
        return found

    monkeypatch.setattr(upload_sweep, "unbound_before", read_then_bind)
    with sessions() as s:
        paths = {a.id: Path(a.storage_path) for a in s.query(Attachment)}
    assert uploads.sweep_sessions(sessions, services.now() + timedelta(days=1, minutes=1)) == 1
    assert paths[late].exists() and not paths[abandoned].exists()
