"""``wf audit``: check the audit record, export it, and check an export offline."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, tzinfo

import click

from engine.app import admin
from engine.cli import main
from engine.cli.db import opened
from engine.errors import WorkflowError
from engine.i18n import _


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
        click.echo(_("Anchors: {n} chain heads checked against {file}", n=report.anchored, file=report.anchor_file))
    for problem in report.anchor_problems:
        click.echo(_("BROKEN: {problem}", problem=problem))
    if report.ok:
        click.echo(_("OK: {counted} verified", counted=report.counted()))
        return
    for brk in report.breaks:
        click.echo(_("BROKEN: {problem}", problem=brk))
    click.echo(_("FAILED: {n} of {instances} instances differ from their chain, their anchors or their events "
                 "({events} events read)", n=len({b.instance_id for b in report.breaks}),
                 instances=report.instances, events=report.events)
               + (_("; the anchor file has {n} problem(s)", n=len(report.anchor_problems))
                  if report.anchor_problems else ""))
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
    click.echo(_("Anchored {n} chain heads in {file}", n=count, file=path) if count
               else _("Nothing new to anchor in {file}", file=path))


def _verify_file(ctx: click.Context, file: str) -> None:
    try:
        stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise click.ClickException(_("cannot read {file}: {reason}; check the path", file=file,
                                     reason=exc.strerror)) from exc
    with stream:
        report = admin.verify_export(stream, "<stdin>" if file == "-" else file)
    if report.ok:
        click.echo(_("OK: {events} events of {instances} instances in {file} verified", events=report.events,
                     instances=report.instances, file=file))
        return
    click.echo(_("BROKEN: {problem}", problem=report.problems[0]))
    for problem in report.problems[1:]:
        click.echo("  " + _("also: {problem}", problem=problem))
    click.echo(_("FAILED: {n} problem(s) in {file}", n=len(report.problems), file=file))
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
        raise click.BadParameter(_("'{value}' is not a date; write YYYY-MM-DD (or an ISO date-time)", value=value),
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
            raise click.BadParameter(_("--to is before --from; swap them"), param_hint="--to")
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
    click.echo(_("OK: {values} field values of {versions} procedure version(s) indexed; "
                 "{days} day(s) of dashboard figures recounted", values=done.values,
                 versions=done.versions, days=done.kpi_days))


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
    click.echo(_("OK: {days} day(s) of dashboard figures counted in {seconds} s", days=days,
                 seconds=format(time.perf_counter() - started, ".1f")))
