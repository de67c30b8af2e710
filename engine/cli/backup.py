"""``wf backup`` and ``wf restore``: copies of the database, and the restore drill."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from engine.app import backup as backups
from engine.cli import main
from engine.cli.db import config_of
from engine.errors import WorkflowError
from engine.i18n import _


@main.command("backup")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--verify", is_flag=True,
              help="Then restore the backup into a scratch database and verify its audit trail there.")
@click.pass_context
def backup_cmd(ctx: click.Context, path: str | None, verify: bool) -> None:
    """Write a consistent copy of the database to PATH (default var/backup/workflow-TIME.db,
    or .dump on PostgreSQL) while the server keeps running."""
    config = config_of(ctx)
    if path is None:
        suffix = ".db" if config.database_url.startswith("sqlite") else ".dump"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = str(config.path("paths", "backups", default="var/backup") / f"workflow-{stamp}{suffix}")
    try:
        made = backups.backup(config, path)
        click.echo(_("Backup written: {file} ({size} bytes, {kind})", file=made.path, size=format(made.bytes, ","),
                     kind=made.kind))
        if verify:
            report = backups.verify(config, made.path)
    except backups.DrillRefused as exc:  # the backup is written and fine; only the drill could not run
        raise click.ClickException(_("{problem}; the backup {file} is kept", problem=exc.message,
                                     file=made.path)) from None
    except WorkflowError as exc:
        raise click.ClickException(exc.message) from exc
    if not verify:
        return
    _later(report)
    if report.ok:
        click.echo(_("Restore drill OK: the backup restored into a scratch database; {counted} verified there",
                     counted=report.counted()))
        return
    for brk in report.breaks:
        click.echo(_("BROKEN: {problem}", problem=brk))
    broken = len({b.instance_id for b in report.breaks})
    click.echo(_("Restore drill FAILED: {n} of {instances} instances have a broken chain", n=broken,
                 instances=report.instances))
    ctx.exit(1)


def _later(report: backups.Report) -> None:
    """Say which anchored heads a backup cannot hold: written after its last event."""
    if report.anchored_later and report.held_until is not None:
        click.echo(_("Anchors: {n} chain head(s) anchored after this backup's last event ({time} UTC) are "
                     "not in it, as expected; `wf audit verify` on the live database checks them",
                     n=report.anchored_later, time=report.held_until.strftime("%Y-%m-%d %H:%M:%S")))


@main.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--replace", is_flag=True, help="Overwrite a database that already has data.")
@click.option("--verify-only", is_flag=True,
              help="Do not restore: restore into a scratch database and verify the audit trail there.")
@click.pass_context
def restore_cmd(ctx: click.Context, path: str, replace: bool, verify_only: bool) -> None:
    """Put the backup PATH in place of the configured database (stop the server and the
    workers first)."""
    config = config_of(ctx)
    try:
        if verify_only:
            report = backups.verify(config, path)
            _later(report)
            click.echo(_("OK: {counted} verified in a scratch restore", counted=report.counted()) if report.ok
                       else _("FAILED: {counted} verified in a scratch restore", counted=report.counted()))
            if not report.ok:
                for brk in report.breaks:
                    click.echo(_("BROKEN: {problem}", problem=brk))
                ctx.exit(1)
            return
        backups.restore(config, path, replace=replace)
    except WorkflowError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(_("Restored {file}; run `wf audit verify` to check the trail, then start the server.", file=path))
