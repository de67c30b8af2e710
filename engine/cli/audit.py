"""``wf audit``: check the audit record, export it, and check an export offline."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, tzinfo

import click

from engine.app import admin
from engine.cli import main
from engine.cli.db import opened
from engine.errors import WorkflowError


@main.group("audit")
def audit_group() -> None:
    """Audit trail checks and exports."""


@audit_group.command("verify")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Events read per query.")
@click.option("--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Check an export (from `wf audit export`) offline instead of the database.")
@click.option("--files", "files", is_flag=True,
              help="Also read every file the records hold (photos, drawn signatures) from disk and compare "
                   "its SHA-256 with the one recorded.")
@click.pass_context
def verify_cmd(ctx: click.Context, batch_size: int, file: str | None, files: bool) -> None:
    """Recompute every event hash chain; name the first broken link of each instance.

    With --file, check an exported JSON Lines file without any database."""
    if file is not None:
        _verify_file(ctx, file)
        return
    with opened(ctx) as services:
        report = admin.verify_audit(services, batch_size=batch_size, files=files)
    if report.anchor_file:
        click.echo(f"Anchors: {report.anchored} chain heads checked against {report.anchor_file}")
    for problem in report.anchor_problems:
        click.echo(f"BROKEN: {problem}")
    if report.ok:
        click.echo(f"OK: {report.counted()} verified")
        return
    for brk in report.breaks:
        click.echo(f"BROKEN: {brk}")
    click.echo(f"FAILED: {len({b.instance_id for b in report.breaks})} of {report.instances} instances "
               f"differ from their chain, their anchors or their events ({report.events} events read)"
               + (f"; the anchor file has {len(report.anchor_problems)} problem(s)" if report.anchor_problems else ""))
    ctx.exit(1)


@audit_group.command("anchor")
@click.pass_context
def anchor_cmd(ctx: click.Context) -> None:
    """Append the chain heads that moved since the last anchor to the anchor file
    (audit.anchors in config.yaml, or WF_AUDIT_ANCHORS). Run it often, from cron or a timer:
    `wf audit verify` then names any anchored event that was rewritten or deleted."""
    try:
        with opened(ctx) as services:
            count, path = admin.anchor_audit(services)
    except WorkflowError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Anchored {count} chain heads in {path}" if count else f"Nothing new to anchor in {path}")


def _verify_file(ctx: click.Context, file: str) -> None:
    try:
        stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}; check the path") from exc
    with stream:
        report = admin.verify_export(stream, "<stdin>" if file == "-" else file)
    if report.ok:
        click.echo(f"OK: {report.events} events of {report.instances} instances in {file} verified")
        return
    click.echo(f"BROKEN: {report.problems[0]}")
    for problem in report.problems[1:]:
        click.echo(f"  also: {problem}")
    click.echo(f"FAILED: {len(report.problems)} problem(s) in {file}")
    ctx.exit(1)


def _day(value: str | None, param: str, zone: tzinfo) -> datetime | None:
    """A ``YYYY-MM-DD`` (or a date-time without an offset) as local midnight of ``zone``, the
    configured one whose midnights cut the days of the web's and the API's exports and the
    KPIs, in UTC; a date-time with an offset as written."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"'{value}' is not a date; write YYYY-MM-DD (or an ISO date-time)",
                                 param_hint=param) from exc
    return parsed.replace(tzinfo=zone).astimezone(UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@audit_group.command("export")
@click.option("--from", "since", help="First day (YYYY-MM-DD, local: the configured time zone), inclusive.")
@click.option("--to", "until", help="Last day (YYYY-MM-DD, local: the configured time zone), inclusive.")
@click.option("--procedure", help="Only events of instances of this procedure id.")
@click.pass_context
def export_cmd(ctx: click.Context, since: str | None, until: str | None, procedure: str | None) -> None:
    """Write the event trail as JSON Lines with the hashes to standard output."""
    with opened(ctx) as services:
        zone = services.config.timezone
        start, end = _day(since, "--from", zone), _day(until, "--to", zone)
        if end is not None and until is not None and len(until) == 10:
            end += timedelta(days=1)  # a date given for --to includes that whole day
        if start and end and end <= start:
            raise click.BadParameter("--to is before --from; swap them", param_hint="--to")
        for line in admin.export_audit(services, procedure=procedure, since=start, until=end,
                                       now=datetime.now(UTC)):
            click.echo(line, nl=False)


@audit_group.command("reindex")
@click.pass_context
def reindex_cmd(ctx: click.Context) -> None:
    """Rebuild the field index (searchable values, ledger columns, KPI fields) from every
    instance's data: after adding a ledger column or an index field to a procedure."""
    with opened(ctx) as services:
        done = admin.reindex(services)
    click.echo(f"OK: {done.values} field values of {done.versions} procedure version(s) indexed; "
               f"{done.kpi_days} day(s) of dashboard figures recounted")


@audit_group.command("kpis")
@click.option("--procedure", "procedure_id", help="only this procedure (default: every procedure with changes)")
@click.pass_context
def kpis_cmd(ctx: click.Context, procedure_id: str | None) -> None:
    """Bring the KPI dashboard's daily figures up to date. The worker does this on every
    pass and a dashboard before it shows; after upgrading a large database, run it once so
    that the first dashboard does not wait for the whole history to be counted."""
    import time

    from engine.errors import NotFound

    started = time.perf_counter()
    with opened(ctx) as services:
        try:
            days = admin.refresh_kpis(services, procedure_id)
        except NotFound as exc:
            raise click.BadParameter(exc.message, param_hint="--procedure") from exc
    click.echo(f"OK: {days} day(s) of dashboard figures counted in {time.perf_counter() - started:.1f} s")
