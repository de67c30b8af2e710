"""``wf procedures``: register procedure versions in the database and list them."""

from __future__ import annotations

import click
from sqlalchemy.orm import Session

from engine.cli import main
from engine.cli.db import open_engine
from engine.config import load_config


@main.group("procedures")
def procedures_group() -> None:
    """Procedure versions stored in the database."""


@procedures_group.command("load")
@click.argument("paths", nargs=-1, type=click.Path())
@click.pass_context
def load_cmd(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Register every changed procedure under PATHS (default: the configured folders).

    Each procedure whose text or forms changed becomes a new version; running instances stay
    on the version they started with. If any file has a problem, every problem is printed as
    FILE:LINE:COL: message and nothing is registered.
    """
    from engine.app.service import Workflow
    from engine.errors import DefinitionInvalid
    from engine.store import get_version
    from engine.store.versions import label

    cfg = load_config(ctx.obj["config_path"])
    workflow = Workflow(cfg)
    with open_engine(ctx) as engine, Session(engine) as session:
        try:
            registered = workflow.load_procedures(session, list(paths) or None)
        except DefinitionInvalid as exc:
            session.rollback()
            for problem in exc.problems:
                click.echo(str(problem))
            click.echo(f"{len(exc.problems)} problem(s) found; nothing was registered.", err=True)
            ctx.exit(1)
        numbers = {r.version_id: label(get_version(session, r.version_id)) for r in registered}
        session.commit()
    for r in registered:
        number = numbers[r.version_id]
        what = "new version" if r.created else "unchanged, version"
        click.echo(f"{r.procedure_id}: {what} {number} (id {r.version_id}, "
                   f"sha256 {r.content_hash[:12]})")
    created = sum(r.created for r in registered)
    click.echo(f"{len(registered)} procedure(s), {created} new version(s).", err=True)


@procedures_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Every version, not only the latest.")
@click.pass_context
def list_cmd(ctx: click.Context, show_all: bool) -> None:
    """List installed procedures: id, version number, registration time, title."""
    from sqlalchemy import select

    from engine.store import ProcedureVersion, count_instances
    from engine.store.versions import label

    with open_engine(ctx) as engine:
        read_only = engine.execution_options(sqlite_begin="DEFERRED")
        with Session(read_only) as session:
            rows = list(session.scalars(select(ProcedureVersion)
                                        .order_by(ProcedureVersion.procedure_id,
                                                  ProcedureVersion.id)))
            by_proc: dict[str, list[ProcedureVersion]] = {}
            for row in rows:
                by_proc.setdefault(row.procedure_id, []).append(row)
            if not by_proc:
                click.echo("No procedures installed; run `wf procedures load`.")
                return
            for proc_id, versions in by_proc.items():
                running = count_instances(session, proc_id, "running")
                shown = versions if show_all else versions[-1:]
                for row in shown:
                    click.echo(f"{proc_id}\tv{label(row)}\t{row.status}\t"
                               f"{row.registered_at:%Y-%m-%d %H:%M}Z\t{row.title}"
                               + ("" if show_all else f"\t({running} running)"))


@procedures_group.command("doc")
@click.option("--output", "-o", default="docs/procedures.md", show_default=True, type=click.Path(),
              help="Where to write the page ('-' for standard output).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the file differs from what would be written.")
@click.pass_context
def doc_cmd(ctx: click.Context, output: str, check: bool) -> None:
    """Write docs/procedures.md from the configured procedures folder and config.yaml:
    one section per procedure with its description, roles and groups, deadlines, linked
    procedures and a Mermaid diagram of its steps."""
    from pathlib import Path

    from engine.language.procedure import load_library
    from engine.language.procedures_doc import render

    cfg = load_config(ctx.obj["config_path"])
    lib = load_library([cfg.path("paths", "procedures", default="procedures"),
                        cfg.path("paths", "forms", default="forms")])
    if lib.problems:
        for problem in lib.problems:
            click.echo(str(problem), err=True)
        ctx.exit(1)
    text = render(lib.procedures.values(), cfg)
    if output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            click.echo(f"{output} is out of date; run `wf procedures doc`", err=True)
            ctx.exit(1)
        click.echo(f"{output} is up to date")
        return
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} ({len(lib.procedures)} procedures)")


@procedures_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
@click.pass_context
def export_cmd(ctx: click.Context, folder: str) -> None:
    """Write the current published version of every procedure, with its forms, under
    FOLDER/procedures and FOLDER/forms (to keep what the browser editor published in git).

    Files are written as stored: comments and layout as the editor saved them. Drafts and
    versions in review are not written.
    """
    from engine.app.editor import Editor
    from engine.app.service import Workflow

    cfg = load_config(ctx.obj["config_path"])
    with open_engine(ctx) as engine:
        read_only = engine.execution_options(sqlite_begin="DEFERRED")
        with Session(read_only) as session:
            written = Editor(Workflow(cfg)).export(session, folder)
    for path in written:
        click.echo(str(path))
    click.echo(f"{len(written)} file(s) written under {folder}.", err=True)
