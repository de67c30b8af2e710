"""``wf db``: database schema migrations; also how other commands open the application."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import click

from engine.app import admin
from engine.cli import main
from engine.config import Config, load_config
from engine.errors import DefinitionInvalid
from engine.i18n import _

if TYPE_CHECKING:
    from engine.app.services import Services


def config_of(ctx: click.Context) -> Config:
    """The configuration from ``--config`` / ``WF_CONFIG`` (``WF_*`` variables applied)."""
    obj = ctx.find_object(dict) or {}
    try:
        return load_config(obj.get("config_path"))
    except DefinitionInvalid as exc:  # said at its file:line:col, not as a traceback
        raise click.ClickException(exc.message) from None


@contextmanager
def opened(ctx: click.Context, *, require_current: bool = True) -> Iterator[Services]:
    """The application on the configured database; by default refuses an out-of-date schema."""
    with ExitStack() as stack:
        try:
            services = stack.enter_context(admin.opened(config_of(ctx), require_current=require_current))
        except (admin.SchemaOutdated, admin.DatabaseUnreachable) as exc:
            raise click.ClickException(exc.message) from None
        yield services


@main.group("db")
def db_group() -> None:
    """Database schema: create and migrate."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True,
              help="Alembic revision to upgrade to.")
@click.option("--new-database", is_flag=True,
              help="Make a new, empty SQLite database even though the file is missing from a folder "
                   "that shows one was in use there (its records are then not in it).")
@click.pass_context
def upgrade_cmd(ctx: click.Context, revision: str, new_database: bool) -> None:
    """Create the database or bring its schema up to date (safe to run again); says whether
    it migrated (from which revision to which) or was already current."""
    config = config_of(ctx)
    config.new_database = new_database
    try:
        done = admin.upgrade_database(config, revision)
    except (admin.SchemaOutdated, admin.DatabaseUnreachable) as exc:  # e.g. this user may not change the tables
        raise click.ClickException(exc.message) from None
    if done.before == done.after:
        click.echo(_("Database {url} was already at schema revision {revision}; nothing to do.",
                     url=admin.shown_url(config), revision=done.after))
    else:
        click.echo(_("Database {url} migrated to schema revision {revision} (from {before}).",
                     url=admin.shown_url(config), revision=done.after, before=done.before or _("none")))


@db_group.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Show the database's schema revision and the one this program needs; exit 1 when they
    differ (run `wf db upgrade`), so a deployment script can test it."""
    try:
        status = admin.schema_status(config_of(ctx))
    except admin.DatabaseUnreachable as exc:
        raise click.ClickException(exc.message) from None
    note = (_("up to date") if status.up_to_date
            else _("migrated by a newer release: install that release here, see docs/operations.md")
            if status.newer else _("run `wf db upgrade`"))
    click.echo(_("{url}: revision {current}, needed {head} ({note})", url=status.url,
                 current=status.current or _("none"), head=status.head, note=note))
    if not status.up_to_date:
        ctx.exit(1)
