"""``wf org``: the organisation chart (departments, heads, each user's department and manager)
that approvals to "the manager" or "the head of a department" and escalations resolve from.
The CSV format is described in docs/org-chart.md."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from engine.app import org
from engine.cli import main
from engine.cli.db import opened
from engine.errors import DefinitionInvalid, WorkflowError
from engine.i18n import _


def _fail(exc: WorkflowError) -> None:
    if isinstance(exc, DefinitionInvalid):  # every bad line, as `wf validate` prints them
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(_("{n} problem(s); nothing was imported.", n=len(exc.problems)), err=True)
        raise SystemExit(1)
    raise click.ClickException(exc.message)


@main.group("org")
def org_group() -> None:
    """The organisation chart: departments, heads, managers (docs/org-chart.md)."""


@org_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_context
def import_cmd(ctx: click.Context, file: str) -> None:
    """Replace the whole chart with the one in FILE (CSV, UTF-8; '-' reads standard input).
    A file with any bad line imports nothing; every bad line is named."""
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise click.ClickException(_("{file}: cannot read it ({reason}); check the path", file=file,
                                      reason=exc.strerror)) from exc
    with opened(ctx) as services:
        try:
            done = org.import_csv(services, org.command_line(), data, "<stdin>" if file == "-" else file)
        except WorkflowError as exc:
            _fail(exc)
            return
    click.echo(_("Imported {departments} departments and {users} users; the chart is at version {version}.",
                 departments=done.departments, users=done.users, version=done.version))


@org_group.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_context
def export_cmd(ctx: click.Context, file: str | None) -> None:
    """Write the chart as CSV to FILE (default: standard output), as `wf org import` reads it."""
    with opened(ctx) as services:
        text = org.export_csv(services)
    if file and file != "-":
        Path(file).write_text(text, encoding="utf-8", newline="")
        click.echo(_("Wrote {file}.", file=file), err=True)
    else:
        click.echo(text.removeprefix("\ufeff"), nl=False)


@org_group.command("show")
@click.pass_context
def show_cmd(ctx: click.Context) -> None:
    """Print the department tree with heads and members, and whom each member reports to."""
    with opened(ctx) as services:
        found = org.view(services, org.command_line())
    if not found.departments and not found.unplaced:
        click.echo(_("No departments yet; import a chart with `wf org import FILE.csv`."))
    for d in found.departments:
        pad = "  " * d.depth
        click.echo(f"{pad}{d.name} [{d.id}]  " + _("head: {user}", user=d.head or "-"))
        for p in d.members:
            line = f"{pad}  - {p.username} ({p.full_name or '-'})  " + _("reports to: {user}", user=p.reports_to or "-")
            if p.manager and p.manager != p.reports_to:
                line += " " + _("(recorded manager {user} is inactive)", user=p.manager)
            click.echo(line + ("" if p.active else "  " + _("(inactive)")))
    for p in found.unplaced:
        click.echo(f"- {p.username} " + _("(no department)") + "  " + _("reports to: {user}", user=p.reports_to or "-"))
    click.echo(_("Version {version}.", version=found.version))


@org_group.command("user")
@click.argument("username")
@click.option("--department", default=None, help="Department id ('' clears).")
@click.option("--manager", default=None, help="Manager's user name ('' clears).")
@click.pass_context
def user_cmd(ctx: click.Context, username: str, department: str | None, manager: str | None) -> None:
    """Set USERNAME's department and/or manager."""
    if department is None and manager is None:
        raise click.UsageError(_("give --department and/or --manager"))
    with opened(ctx) as services:
        try:
            org.set_person(services, org.command_line(), username,
                           department=org.KEEP if department is None else department,
                           manager=org.KEEP if manager is None else manager)
        except WorkflowError as exc:
            _fail(exc)
    click.echo(_("{user}: changed.", user=username))


@org_group.command("department")
@click.argument("dept_id")
@click.option("--add", "create", is_flag=True, help="Add a new department.")
@click.option("--name", default=None, help="Its name (rename).")
@click.option("--parent", default=None, help="Parent department id ('' for none: move).")
@click.option("--head", default=None, help="Head's user name ('' clears).")
@click.pass_context
def department_cmd(ctx: click.Context, dept_id: str, create: bool, name: str | None,
                   parent: str | None, head: str | None) -> None:
    """Add (--add), rename, move or give a head to department DEPT_ID."""
    with opened(ctx) as services:
        try:
            org.save_department(services, org.command_line(), dept_id, name=name, parent=parent,
                                head=head, create=create)
        except WorkflowError as exc:
            _fail(exc)
    click.echo(_("Department {id}: added.", id=dept_id) if create else _("Department {id}: changed.", id=dept_id))
