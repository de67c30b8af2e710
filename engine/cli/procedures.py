"""``wf procedures``: register procedure versions in the database and list them."""

from __future__ import annotations

import click

from engine.app import admin
from engine.cli import main
from engine.cli.db import config_of, opened
from engine.errors import DefinitionInvalid
from engine.i18n import _


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
    with opened(ctx) as services:
        try:
            registered = admin.install_procedures(services, paths)
        except DefinitionInvalid as exc:
            for problem in exc.problems:
                click.echo(str(problem))
            click.echo(_("{n} problem(s) found; nothing was registered.", n=len(exc.problems)), err=True)
            ctx.exit(1)
    for r in registered:
        said = (_("{procedure}: new version {label} (id {id}, sha256 {sha})") if r.created
                else _("{procedure}: unchanged, version {label} (id {id}, sha256 {sha})"))
        click.echo(said.format(procedure=r.procedure_id, label=r.label, id=r.version_id,
                               sha=r.content_hash[:12]))
    created = sum(r.created for r in registered)
    click.echo(_("{n} procedure(s), {created} new version(s).", n=len(registered), created=created), err=True)


@procedures_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Every version, not only the latest.")
@click.pass_context
def list_cmd(ctx: click.Context, show_all: bool) -> None:
    """List installed procedures: id, version number, registration time, title."""
    with opened(ctx) as services:
        lines = admin.procedure_versions(services, every=show_all)
    if not lines:
        click.echo(_("No procedures installed; run `wf procedures load`."))
        return
    for v in lines:
        click.echo(f"{v.procedure_id}\tv{v.label}\t{v.status}\t"
                   f"{v.registered_at:%Y-%m-%d %H:%M}Z\t{v.title}"
                   + ("" if show_all else "\t" + _("({n} running)", n=v.running)))


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

    try:
        text, count = admin.procedures_doc(config_of(ctx))
    except DefinitionInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        ctx.exit(1)
    if output == "-":
        click.echo(text, nl=False)
        return
    path = Path(output)
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            click.echo(_("{file} is out of date; run `wf procedures doc`", file=output), err=True)
            ctx.exit(1)
        click.echo(_("{file} is up to date", file=output))
        return
    path.write_text(text, encoding="utf-8")
    click.echo(_("wrote {file} ({n} procedures)", file=output, n=count))


@procedures_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
@click.pass_context
def export_cmd(ctx: click.Context, folder: str) -> None:
    """Write the current published version of every procedure, with its forms, under
    FOLDER/procedures and FOLDER/forms (to keep what the browser editor published in git).

    Files are written as stored: comments and layout as the editor saved them. Drafts and
    versions in review are not written.
    """
    with opened(ctx) as services:
        written = admin.export_procedures(services, folder)
    for path in written:
        click.echo(str(path))
    click.echo(_("{n} file(s) written under {folder}.", n=len(written), folder=folder), err=True)
