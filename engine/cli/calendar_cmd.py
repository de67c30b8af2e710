"""``wf calendar``: inspect working calendars and check deadline arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from engine.app import admin
from engine.cli import main
from engine.cli.db import config_of
from engine.errors import NotFound, WorkflowError
from engine.i18n import _
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
        click.echo(_("calendar default is not configured: using the built-in default calendar"))
    for line in cal.explain(start, duration):
        click.echo(line)
    due = cal.add(start, duration)
    local = due.astimezone(cal.timezone)
    click.echo(_("due (local): {time} {zone}", time=local.strftime("%Y-%m-%d %H:%M"), zone=cal.timezone.key))
    click.echo(_("due (UTC):   {time} UTC", time=due.strftime("%Y-%m-%d %H:%M")))
    known = cal.known_until()
    if known is None or local.date() > known:
        said = (_("note: public holidays are known only up to {date}; days after that count as ordinary "
                  "weekdays and weekends. Upgrade chinesecalendar once the State Council's notice is out, "
                  "or list the days under calendars.{name}.holidays / workdays and set "
                  "calendars.{name}.holidays_listed_until", date=known.isoformat(), name=cal.name) if known
                else _("note: public holidays are known for no date; every weekday counts as a working day. "
                       "Upgrade chinesecalendar once the State Council's notice is out, or list the days "
                       "under calendars.{name}.holidays / workdays and set calendars.{name}.holidays_listed_until",
                       name=cal.name))
        click.echo(said)


def _parse_start(text: str | None, cal: Calendar) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(_("bad date-time '{value}'; write e.g. '2026-10-09 16:00'", value=text),
                                 param_hint="--from") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=cal.timezone)
    return value
