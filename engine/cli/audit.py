"""``wf audit``: check the audit record."""

from __future__ import annotations

import click
from sqlalchemy.orm import Session

from engine.cli import main
from engine.cli.db import open_engine


@main.group("audit")
def audit_group() -> None:
    """Audit trail checks."""


@audit_group.command("verify")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Events read per query.")
@click.pass_context
def verify_cmd(ctx: click.Context, batch_size: int) -> None:
    """Recompute every event hash chain; name the first broken link of each instance."""
    from engine.store import verify_chains

    with open_engine(ctx) as engine:
        read_only = engine.execution_options(sqlite_begin="DEFERRED")
        with Session(read_only) as session:
            report = verify_chains(session, batch_size=batch_size)
    if report.ok:
        click.echo(f"OK: {report.events} events in {report.instances} instances verified")
        return
    for brk in report.breaks:
        click.echo(f"BROKEN: {brk}")
    click.echo(f"FAILED: {len(report.breaks)} of {report.instances} instances have a broken "
               f"chain ({report.events} events read)")
    ctx.exit(1)
