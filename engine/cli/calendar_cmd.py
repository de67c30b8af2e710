"""``wf calendar``: inspect working calendars and check deadline arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from engine.app import admin
from engine.cli import main
from engine.cli.db import config_of
from engine.errors import NotFound, WorkflowError
from engine.language.calendar import Calendar, DurationError, parse_duration


@main.group("calendar")
def calendar_group() -> None:
    """Working calendars (working hours, holidays, 调休)."""


@calendar_group.command("check")
@click.option("--calendar", "name", default="default", show_default=True,
              help="Calendar name under `calendars:` in config.yaml.")
@click.option("--from", "start_text", default=None, metavar="'YYYY-MM-DD HH:MM'",
              help="Start, in the calendar's local time (or with an explicit offset); default now.")
@click.option("--within", "within", required=True, metavar="DURATION",
              help="Duration such as 24h, 3d, 1mo, 8wh or 3wd (may be negative, e.g. -2wh).")
@click.pass_context
def check(ctx: click.Context, name: str, start_text: str | None, within: str) -> None:
    """Show how a due time is computed: days counted, days skipped and why."""
    try:
        cal, configured = admin.calendar_named(config_of(ctx), name)
    except NotFound as exc:
        raise click.BadParameter(exc.message, param_hint="--calendar") from None
    except WorkflowError as exc:
        raise click.ClickException(exc.message) from None
    try:
        duration = parse_duration(within)
    except DurationError as exc:
        raise click.BadParameter(exc.message, param_hint="--within") from None
    start = _parse_start(start_text, cal)

    if not configured:
        click.echo("calendar default is not configured: using the built-in default calendar")
    for line in cal.explain(start, duration):
        click.echo(line)
    due = cal.add(start, duration)
    local = due.astimezone(cal.timezone)
    click.echo(f"due (local): {local.strftime('%Y-%m-%d %H:%M')} {cal.timezone.key}")
    click.echo(f"due (UTC):   {due.strftime('%Y-%m-%d %H:%M')} UTC")
    known = cal.known_until()
    if known is None or local.date() > known:
        reach = f"only up to {known.isoformat()}" if known else "for no date"
        click.echo(f"note: public holidays are known {reach}; days after that count as ordinary "
                   "weekdays and weekends. Upgrade chinesecalendar once the State Council's notice "
                   f"is out, or list the days under calendars.{cal.name}.holidays / workdays and set "
                   f"calendars.{cal.name}.holidays_listed_until")


def _parse_start(text: str | None, cal: Calendar) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"bad date-time {text!r}; write e.g. '2026-10-09 16:00'",
                                 param_hint="--from") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=cal.timezone)
    return value
