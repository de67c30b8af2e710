"""Editor use cases on a real database: drafts as minor versions, change control publishing
major versions, separation of duties, pinned instances, restore, bundles and export."""

from __future__ import annotations

import pytest

from engine.app import editor as editing
from engine.errors import DefinitionInvalid, FormInvalid, NotPermitted
from engine.language.yaml_edit import add_field, add_step
from engine.store import get_version, latest_version_id, users, versions
from tests.helpers.service import PASSWORD, open_task, setup

PID = "after-sales-inspection"
EDITORS = {"author1": ["editors"], "editor2": ["editors"], "approver1": ["doc-approvers"],
           "both1": ["editors", "doc-approvers"], "inspector1": ["qa-inspectors"]}


@pytest.fixture
def env(sessions):
    wf = setup(sessions, ["inspector1"])
    with sessions() as s:
        for name, groups in EDITORS.items():
            if name != "inspector1":
                users.add_user(s, name, PASSWORD, groups, full_name=name)
        s.commit()
    return wf, editing.Editor(wf)


def draft_with_new_step(s, ed):
    row = versions.working_copy(s, PID)
    source = add_step(row.source, "double_check", title="复核", role="qa_supervisor",
                      form="inspection-report", within="1wd", after="receive")
    forms = dict(row.forms)
    forms["after-sales-inspection-result"] = add_field(
        forms["after-sales-inspection-result"], "voltage", type="number", title="电压", unit="V",
        minimum=210, maximum=230)
    return ed.save(s, PID, source, forms, "author1", note="复核步骤")


def decide(wf, s, state, step, user, approve=True):
    return wf.decide(s, open_task(state, step), user, approve=approve, comment="ok", password=PASSWORD)


def test_draft_saves_are_minor_versions_and_invalid_drafts_are_refused(env, sessions):
    wf, ed = env
    with sessions() as s:
        current = get_version(s, latest_version_id(s, PID))
        assert versions.label(current) == "1.0"
        d1 = draft_with_new_step(s, ed)
        assert (versions.label(d1), d1.status, d1.registered_by) == ("1.1", "draft", "author1")
        d2 = ed.save(s, PID, d1.source + "\n# 备注\n", d1.forms, "author1")
        assert versions.label(d2) == "1.2"
        assert ed.save(s, PID, d2.source, d2.forms, "author1").id == d2.id  # same text: no new version
        broken = d2.source.replace("role: qa_supervisor\n    form: inspection-report",
                                   "role: qa_supervisr\n    form: inspection-report")
        line = broken.splitlines().index("    role: qa_supervisr") + 1
        with pytest.raises(DefinitionInvalid) as err:
            ed.save(s, PID, broken, d2.forms, "author1")
        assert f"procedures/after-sales-inspection.yaml:{line}:11: unknown role 'qa_supervisr'" in err.value.message
        assert "did you mean 'qa_supervisor'" in err.value.message
        # drafts never start real instances
        assert latest_version_id(s, PID) == current.id
        cat = {c["id"]: c for c in ed.catalogue(s)}
        assert cat[PID] | {} == {"id": PID, "title": "售后检验", "current": "1.0", "newest": "1.2",
                                 "status": "draft", "owner": "author1"}


def test_only_editors_edit(env, sessions):
    wf, ed = env
    with sessions() as s:
        row = versions.working_copy(s, PID)
        for user in ("approver1", "inspector1"):
            with pytest.raises(NotPermitted, match=r"editor group \(editors\)"):
                ed.save(s, PID, row.source, row.forms, user)
        with pytest.raises(NotPermitted):
            ed.restore(s, row.id, "approver1")


def test_change_control_publishes_a_major_version_and_running_instances_stay(env, sessions):
    wf, ed = env
    with sessions() as s:
        old_instance = wf.start(s, PID, "inspector1", _start_data())
        draft = draft_with_new_step(s, ed)
        with pytest.raises(FormInvalid, match="reason"):
            ed.submit(s, draft.id, "author1", "  ")
        cc = ed.submit(s, draft.id, "author1", "增加复核步骤与电压测量")
        s.commit()
    with sessions() as s:
        assert get_version(s, draft.id).status == "in_review"
        assert cc["data"]["start"]["reason"] == "增加复核步骤与电压测量"
        with pytest.raises(NotPermitted, match="separation of duties"):  # the sender
            decide(wf, s, cc, "review", "author1")
        cc = decide(wf, s, cc, "review", "editor2")
        with pytest.raises(NotPermitted):  # not in the approver group
            decide(wf, s, cc, "approve", "editor2")
        cc = decide(wf, s, cc, "approve", "approver1")
        s.commit()
    with sessions() as s:
        assert cc["status"] == "completed" and cc["outcome"] == "已发布"
        published = get_version(s, draft.id)
        assert (versions.label(published), published.status) == ("2.0", "published")
        assert published.change_reason == "增加复核步骤与电压测量" and published.change_instance == cc["id"]
        assert latest_version_id(s, PID) == draft.id
        new_instance = wf.start(s, PID, "inspector1", _start_data())
        assert wf.instance(s, new_instance["id"])["version"]["id"] == draft.id
        assert wf.instance(s, old_instance["id"])["version"]["id"] != draft.id
        old_rt = wf.runtime(s, wf.instance(s, old_instance["id"])["version"]["id"])
        assert "double_check" not in old_rt.procedure.steps
        first = get_version(s, wf.instance(s, old_instance["id"])["version"]["id"])
        assert versions.display_status(first, latest_version_id(s, PID)) == "retired"


def test_author_in_approver_group_still_cannot_approve_and_rejection_returns_the_draft(env, sessions):
    wf, ed = env
    with sessions() as s:
        draft = draft_with_new_step(s, ed)
        draft = ed.save(s, PID, draft.source, draft.forms, "both1")  # same text: the same draft
        cc = ed.submit(s, draft.id, "author1", "原因")
        s.commit()
    with sessions() as s:
        cc = decide(wf, s, cc, "review", "both1")
        s.commit()
    with sessions() as s:
        cc2_draft = ed.save(s, PID, draft.source + "# x\n", draft.forms, "both1")
        cc2 = ed.submit(s, cc2_draft.id, "both1", "第二次更改")
        with pytest.raises(NotPermitted, match="separation of duties"):  # the sender
            decide(wf, s, cc2, "review", "both1")
        cc = decide(wf, s, cc, "approve", "approver1", approve=False)
        s.commit()
    with sessions() as s:
        assert cc["outcome"] == "rejected"
        assert get_version(s, draft.id).status == "draft"
        assert versions.label(get_version(s, latest_version_id(s, PID))) == "1.0"


def test_cancelled_change_returns_the_draft(env, sessions):
    wf, ed = env
    with sessions() as s:
        draft = draft_with_new_step(s, ed)
        cc = ed.submit(s, draft.id, "author1", "原因")
        wf.cancel(s, cc["id"], "author1", "撤回，继续修改")
        assert get_version(s, draft.id).status == "draft"
        again = ed.submit(s, draft.id, "author1", "再次提交")
        assert get_version(s, draft.id).change_instance == again["id"]


def test_restore_bundle_and_export(env, sessions, tmp_path):
    wf, ed = env
    with sessions() as s:
        first = get_version(s, latest_version_id(s, PID))
        draft_with_new_step(s, ed)
        restored = ed.restore(s, first.id, "author1")
        assert (versions.label(restored), restored.source, restored.note) == ("1.2", first.source, "restored from 1.0")
        bundle = ed.bundle(s, restored.id)
        assert bundle.count("\n---\n") == len(first.forms)
        imported = ed.import_bundle(s, bundle.replace("title: 售后检验\n", "title: 售后检验（新）\n", 1), "author1")
        assert imported.title == "售后检验（新）" and versions.label(imported) == "1.3"
        assert imported.forms == first.forms  # comments of the forms kept
        with pytest.raises(DefinitionInvalid, match="first document must be the procedure"):
            ed.import_bundle(s, "---\n- 1\n", "author1")
        written = ed.export(s, tmp_path)
        assert tmp_path / "procedures" / f"{PID}.yaml" in written
        assert (tmp_path / "procedures" / f"{PID}.yaml").read_text(encoding="utf-8") == first.source


def test_side_by_side_rows():
    rows = editing.side_by_side("a\nb\nc\n", "a\nB\nc\nd\n")
    assert [(r["tag"], r["old_no"], r["new_no"]) for r in rows] == [
        ("equal", 1, 1), ("replace", 2, 2), ("equal", 3, 3), ("insert", None, 4)]


def _start_data():
    return {"customer": "某医院", "product_name": "监护仪", "serial_no": "SN1", "quantity": 1}


def test_cli_export_writes_published_versions(tmp_path, db_url, monkeypatch):
    from click.testing import CliRunner

    from engine.cli import main
    from tests.helpers.service import ROOT

    monkeypatch.setenv("WF_DATABASE_URL", db_url)
    runner = CliRunner()
    cfg = ["--config", str(ROOT / "config.yaml")]
    assert runner.invoke(main, [*cfg, "db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, [*cfg, "procedures", "load"]).exit_code == 0
    out = runner.invoke(main, [*cfg, "procedures", "export", str(tmp_path / "lib")])
    assert out.exit_code == 0, out.output
    for name in ("procedures/after-sales-inspection.yaml", "forms/product-receipt.yaml",
                 "procedures/procedure-change-control.yaml"):
        assert (tmp_path / "lib" / name).read_text(encoding="utf-8") == (ROOT / name).read_text(encoding="utf-8")
        assert str(tmp_path / "lib" / name) in out.output


def test_editors_saving_at_once_get_distinct_numbers(env, sessions, db_url):
    """Two editors save different drafts of one procedure at the same moment, each in its
    own connection: the numbers are taken in turn (1.1 and 1.2), never both 1.1."""
    import threading

    from engine.store import make_engine, session_factory

    wf, ed = env
    with sessions() as s:
        row = versions.working_copy(s, PID)
        source, forms = row.source, dict(row.forms)
    engine = make_engine(db_url)
    factory = session_factory(engine)
    barrier = threading.Barrier(4)
    saved, errors = [], []

    def save(n: int) -> None:
        try:
            with factory.begin() as s:
                barrier.wait(timeout=30)
                saved.append(versions.label(ed.save(s, PID, source + f"\n# 草稿 {n}\n", forms, "author1")))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert not errors, errors
    assert sorted(saved) == ["1.1", "1.2", "1.3", "1.4"]


# --- the use cases the views call: Services in, plain data out -------------------------------


@pytest.fixture
def app_services(env, engine):
    from engine.app.database import Database
    from engine.app.services import Services
    from tests.helpers.service import config

    wf, _ed = env
    return Services(config(), Database(engine), wf)


def test_an_insider_outside_the_editor_group_changes_nothing_through_any_use_case(app_services, sessions):
    """Calling the application layer directly, as a hostile view would, is refused as the
    pages are: every use case that writes or opens a draft checks the editor group."""
    from engine.app import procedures

    bundle, _label = procedures.bundle(app_services, PID, 1)
    attempts = [
        lambda: editing.draft_file(app_services, "approver1", PID),
        lambda: editing.check_file(app_services, "approver1", PID, "procedure", "id: x\n"),
        lambda: editing.save_file(app_services, "inspector1", PID, "procedure", bundle.split("---\n")[0]),
        lambda: editing.add_step(app_services, "inspector1", PID, "extra", title="x", role="inspector"),
        lambda: editing.restore(app_services, "approver1", PID, 1),
        lambda: editing.submit(app_services, "inspector1", PID, "原因"),
        lambda: procedures.import_bundle(app_services, "inspector1", bundle.encode("utf-8")),
    ]
    for attempt in attempts:
        with pytest.raises(NotPermitted, match=r"editor group \(editors\)"):
            attempt()
    assert [v.label for v in procedures.versions(app_services, PID)] == ["1.0"]
    assert not editing.may_edit(app_services.config, ["qa-inspectors", "doc-approvers"])
    assert editing.may_edit(app_services.config, ["editors"])


def test_edit_check_and_send_a_draft_through_the_use_cases(app_services, sessions):
    from engine.app import procedures
    from engine.language.yaml_edit import EditError

    draft = editing.draft_file(app_services, "author1", PID, "after-sales-inspection-result")
    assert draft.filename == "forms/after-sales-inspection-result.yaml" and draft.version.label == "1.0"
    assert draft.files[0] == "procedure" and "inspect" in draft.names["steps"]
    broken = editing.check_file(app_services, "author1", PID, "procedure",
                                editing.draft_file(app_services, "author1", PID).text.replace(
                                    "    role: inspector\n", "    role: inspectr\n", 1))
    assert not broken.ok and [p.message for p in broken.problems][0].startswith("unknown role 'inspectr'")
    with pytest.raises(EditError):
        editing.change_form_field(app_services, "author1", PID, "after-sales-inspection-result", "nope", "remove")
    label = editing.add_form_field(app_services, "author1", PID, "after-sales-inspection-result", "voltage",
                                   type="number", title="电压", unit="V", minimum=210, maximum=230)
    assert label == "1.1"
    with pytest.raises(FormInvalid) as err:
        editing.submit(app_services, "author1", PID, "  ")
    assert err.value.errors[0]["field"] == "reason"
    cc, sent = editing.submit(app_services, "author1", PID, "增加电压测量")
    assert sent == "1.1"
    with pytest.raises(NotPermitted, match="in_review"):  # the working copy is in review now
        editing.submit(app_services, "author1", PID, "再次提交")
    with sessions() as s:
        cc_state = app_services.workflow.instance(s, cc)
    new_id = procedures.versions(app_services, PID)[0].id
    assert procedures.change_comparison(app_services, cc_state) == (PID, 1, new_id)
    assert procedures.change_comparison(app_services, {"procedure": PID, "data": {}}) is None
    diff = procedures.difference(app_services, PID, 1, new_id)
    changed = [f["file"] for f in diff.files if not f["same"]]
    assert changed == ["forms/after-sales-inspection-result.yaml"]


def test_live_check_reports_a_role_without_a_group(app_services):
    """The editor checks a draft against config.yaml as ``wf validate`` does."""
    text = editing.draft_file(app_services, "author1", PID).text
    broken = text.replace("  quality_manager: 质量经理\n", "  quality_manager: 质量经理\n  night_guard: 夜班值守\n", 1)
    checked = editing.check_file(app_services, "author1", PID, "procedure", broken)
    assert [p.message.split(" has ")[0] for p in checked.problems] == ["role 'night_guard'"]
    assert checked.problems[0].line == broken.splitlines().index("  night_guard: 夜班值守") + 1
    assert editing.check_file(app_services, "author1", PID, "procedure", text).ok


def test_try_it_reports_bad_answers_instead_of_failing(app_services):
    sample = editing.try_version(app_services, PID)
    assert sample.result is None and sample.error is None and "steps:" in sample.answers
    ran = editing.try_version(app_services, PID, None, sample.answers)
    assert ran.error is None and ran.result["path"][0] == "receive"
    assert editing.try_version(app_services, PID, None, "- 1\n").error.startswith("the answers must be a mapping")
    assert editing.try_version(app_services, PID, None, "start: [\n").error.startswith("answers: ")
    from engine.errors import NotFound

    with pytest.raises(NotFound):
        editing.try_version(app_services, "no-such-procedure")
