"""The worked example of docs/procedure-language.md is valid and runs as the page says.

The page's section "Worked example" holds a procedure, its forms and an answers file as YAML
blocks whose first line names the file (``id: stock-in   # file: forms/stock-in.yaml``). They are written to a
scratch folder, validated as ``wf validate`` does and simulated as ``wf simulate`` does (with
``WF_FORMS_DIR``, as the page tells), so the example cannot rot. The other procedures the
page shows whole (the complete example, the 会签 example) are validated too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "procedure-language.md"
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
NAMED = re.compile(r"[^\n]*# file: ((?:procedures|forms|answers)/[a-z0-9-]+\.yaml)\n")


def _section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def _named_blocks() -> dict[str, str]:
    """Each YAML block of the worked example whose first line names its file."""
    out = {}
    for block in BLOCK.findall(_section("Worked example")):
        m = NAMED.match(block)
        if m:
            out[m.group(1)] = block
    return out


@pytest.fixture
def example(tmp_path: Path) -> Path:
    for name, text in _named_blocks().items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_the_example_names_a_procedure_its_forms_and_an_answers_file():
    names = sorted(_named_blocks())
    assert names == ["answers/concession.yaml", "forms/goods-return.yaml",
                     "forms/incoming-delivery.yaml", "forms/incoming-inspection-record.yaml",
                     "forms/stock-in.yaml", "procedures/incoming-inspection.yaml"]


def test_wf_validate_finds_no_problem(example, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", str(example / "procedures"), str(example / "forms")])
    assert result.exit_code == 0, result.output
    assert "OK: 1 procedure(s)" in result.output


def test_wf_simulate_takes_the_path_the_answers_expect(example, monkeypatch):
    """The answers file's `expect` (path and outcome) holds, and the deadlines fall as told."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        main, ["simulate", str(example / "procedures" / "incoming-inspection.yaml"),
               "--answers", str(example / "answers" / "concession.yaml")],
        env={"WF_FORMS_DIR": str(example / "forms")})
    assert result.exit_code == 0, result.output
    assert "outcome: 让步接收" in result.output
    # Friday 16:00 + 8 working hours is Saturday 10 October 16:00, a 调休 working day.
    assert "t1 inspect [抽样检验] task role=inspector done due 2026-10-10T08:00:00+00:00 (missed)" in result.output
    assert "'to': 'quality_manager', 'fallback': 'manager'" in result.output


@pytest.mark.parametrize("title, proc_id", [("A complete example", "after-sales-inspection"),
                                             ("Multi-party approvals", "contract-cosign")])
def test_the_other_whole_procedures_of_the_page_validate(title, proc_id, tmp_path, monkeypatch):
    block = next(b for b in BLOCK.findall(_section(title)) if re.search(rf"^id: {proc_id}$", b, re.M))
    path = tmp_path / f"{proc_id}.yaml"
    path.write_text(block, encoding="utf-8")
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output


# --- every whole procedure and form the pages show ------------------------------------------

PAGES = ["procedure-language.md", "forms.md", "editor.md", "org-chart.md", "operations.md", "api.md",
         "architecture.md", "cli.md"]


def _whole_blocks() -> list[tuple[str, int, str, str]]:
    """(page, line, kind, text) of each YAML block that is a whole file: a top-level ``id:``
    with ``steps:`` (a procedure) or ``schema:`` (a form). Excerpts (no ``id:``) are not files."""
    out = []
    for page in PAGES:
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            block = m.group(1)
            if not re.search(r"^id: ", block, re.M):
                continue
            kind = ("procedure" if re.search(r"^steps:", block, re.M)
                    else "form" if re.search(r"^schema:", block, re.M) else None)
            if kind:
                out.append((page, text[:m.start()].count("\n") + 2, kind, block))
    return out


WHOLE = _whole_blocks()


def test_the_pages_show_whole_procedures_and_forms():
    kinds = [(page, kind) for page, _line, kind, _text in WHOLE]
    assert kinds.count(("procedure-language.md", "procedure")) >= 3
    assert ("forms.md", "form") in kinds


@pytest.mark.parametrize("page, line, kind, block", WHOLE, ids=[f"{p}:{n}" for p, n, _k, _b in WHOLE])
def test_every_whole_example_validates(page, line, kind, block, tmp_path, monkeypatch):
    """Written to a file named after its id, validated as `wf validate` does with the forms the
    same page shows beside the configured ones; a problem names the page and line it comes from."""
    import yaml

    pid = yaml.safe_load(block)["id"]
    (tmp_path / "procedures").mkdir()
    (tmp_path / "forms").mkdir()
    for other_page, _n, other_kind, other in WHOLE:
        if other_page == page and other_kind == "form":
            (tmp_path / "forms" / f"{yaml.safe_load(other)['id']}.yaml").write_text(other, encoding="utf-8")
    folder = tmp_path / ("procedures" if kind == "procedure" else "forms")
    (folder / f"{pid}.yaml").write_text(block, encoding="utf-8")
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "procedures"), str(tmp_path / "forms")])
    assert result.exit_code == 0, f"docs/{page}:{line}: {kind} '{pid}':\n{result.output}"


MARK = '<!-- steps of "A complete example"'


def _step_snippets() -> list[tuple[int, str]]:
    text = PAGE.read_text(encoding="utf-8")
    out = []
    for m in re.finditer(re.escape(MARK) + r"[^\n]*\n```yaml\n(.*?)^```", text, re.S | re.M):
        out.append((text[:m.start()].count("\n") + 3, m.group(1)))
    return out


SNIPPETS = _step_snippets()


def test_the_step_snippets_are_marked():
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("line, snippet", SNIPPETS, ids=[f"procedure-language.md:{n}" for n, _s in SNIPPETS])
def test_each_step_snippet_fits_the_complete_example(line, snippet, tmp_path, monkeypatch):
    """A snippet's steps replace those of the complete example of the same id; a new step is put
    on the path before the step it leads to (nonconforming → open_capa → report)."""
    import yaml

    base = BLOCK.findall(_section("A complete example"))[0]
    proc = yaml.safe_load(base)
    steps = yaml.safe_load(snippet)
    for sid, step in steps.items():
        if sid not in proc["steps"]:
            before = next(s for s, st in reversed(list(proc["steps"].items())) if st.get("next") == step["next"])
            proc["steps"][before]["next"] = sid
        proc["steps"][sid] = step
    path = tmp_path / f"{proc['id']}.yaml"
    path.write_text(yaml.safe_dump(proc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, f"docs/procedure-language.md:{line}:\n{result.output}"
