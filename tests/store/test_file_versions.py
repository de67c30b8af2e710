"""What loading the procedure files makes current (``repo.load_file_version``): a file
changed on purpose takes effect, even when it is put back to an earlier text, and a restart
with the same files leaves a version published in the editor since current."""

from __future__ import annotations

from sqlalchemy import inspect, select

from engine.i18n import shown
from engine.store import (
    ProcedureVersion,
    load_file_version,
    make_engine,
    register_procedure_version,
    repo,
    session_factory,
    upgrade,
    versions,
)
from engine.store.db import downgrade
from engine.store.tables import ProcedureFile
from tests.helpers.store import FORMS, procedure_text

V1 = procedure_text("complaint")
V2 = procedure_text("complaint", title="客户投诉处理（第二版）")


def _current(session) -> ProcedureVersion:
    found = repo.latest_version(session, "complaint")
    assert found is not None
    return found


def test_a_file_put_back_to_an_earlier_text_makes_that_text_current(session):
    v1, created = load_file_version(session, "complaint", V1, FORMS, "投诉")
    assert created and _current(session).id == v1.id
    v2, created = load_file_version(session, "complaint", V2, FORMS, "投诉")
    assert created and _current(session).id == v2.id
    back, created = load_file_version(session, "complaint", V1, FORMS, "投诉")
    session.commit()
    # A new version numbered above the others, with v1's text and hash; v1 keeps its number
    # (and the instances pinned to it), and the history says where the text came from.
    assert created and back.id not in (v1.id, v2.id)
    assert (versions.label(v1), versions.label(v2), versions.label(back)) == ("1.0", "2.0", "3.0")
    assert _current(session).id == back.id
    assert (back.source, back.forms, back.content_hash) == (v1.source, v1.forms, v1.content_hash)
    assert shown(back.note, back.note_message, "en") == (
        "restored from v1.0 (the procedure file was put back to its text)")
    # The same text again (a restart) changes nothing.
    assert load_file_version(session, "complaint", V1, FORMS, "投诉") == (back, False)
    assert len(repo.versions_of(session, "complaint")) == 3


def test_a_restart_with_unchanged_files_does_not_undo_a_version_published_in_the_editor(session):
    v1, _ = load_file_version(session, "complaint", V1, FORMS, "投诉")
    draft, _ = versions.save_draft(session, "complaint", V2, FORMS, "投诉", user="author")
    versions.mark_in_review(session, draft.id, reason="改标题", change_instance="C1")
    published = versions.publish(session, draft.id)
    session.commit()
    assert _current(session).id == published.id
    assert load_file_version(session, "complaint", V1, FORMS, "投诉") == (v1, False)
    session.commit()
    assert _current(session).id == published.id
    # The file changed to what the editor published: nothing new, and it stays current.
    assert load_file_version(session, "complaint", V2, FORMS, "投诉") == (published, False)
    assert _current(session).id == published.id and len(repo.versions_of(session, "complaint")) == 2
    # The file then put back to its first text: a change in the files, which takes effect.
    back, created = load_file_version(session, "complaint", V1, FORMS, "投诉")
    assert created and _current(session).id == back.id and back.source == V1


def test_the_first_load_after_the_upgrade_finds_the_version_by_its_text_as_before(session):
    """A database of before 0025 has no record of what the files were: its first load must
    not take the files' text for a change (an editor's version may be newer than them)."""
    v1, _ = register_procedure_version(session, "complaint", V1, FORMS, "投诉")
    v2, _ = register_procedure_version(session, "complaint", V2, FORMS, "投诉")  # e.g. the editor's
    session.commit()
    assert load_file_version(session, "complaint", V1, FORMS, "投诉") == (v1, False)
    session.commit()
    assert _current(session).id == v2.id
    assert session.scalars(select(ProcedureFile.version_id)).all() == [v1.id]  # recorded from now on


def test_0025_starts_with_no_record_and_downgrades(unmigrated_db_url):
    assert upgrade(unmigrated_db_url, "0024_files_on_the_trail") == "0024_files_on_the_trail"
    eng = make_engine(unmigrated_db_url)
    try:
        with session_factory(eng)() as s:
            s.add(ProcedureVersion(procedure_id="complaint", content_hash=repo.content_hash(V1, FORMS, "complaint"),
                                   source=V1, forms=FORMS, title="投诉", registered_at=repo._now(),
                                   status="published", major=1, minor=0))
            s.commit()
        assert upgrade(unmigrated_db_url) == "0025_procedure_files"
        with session_factory(eng)() as s:
            assert s.scalars(select(ProcedureFile)).all() == []
            row, created = load_file_version(s, "complaint", V1, FORMS, "投诉")
            s.commit()
            assert not created and versions.label(row) == "1.0"
        assert downgrade(unmigrated_db_url, "0024_files_on_the_trail") == "0024_files_on_the_trail"
        assert "procedure_files" not in inspect(eng).get_table_names()
    finally:
        eng.dispose()
