"""``wf db``: database schema migrations; also the helpers other commands open the database with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from sqlalchemy.engine import make_url

from engine.cli import main
from engine.config import load_config

if TYPE_CHECKING:
    from sqlalchemy import Engine


def database_url(ctx: click.Context) -> str:
    """The database URL from ``--config`` / ``WF_CONFIG`` and ``WF_DATABASE_URL``."""
    obj = ctx.find_object(dict) or {}
    return load_config(obj.get("config_path")).database_url


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def open_engine(ctx: click.Context, *, require_current: bool = True) -> Iterator[Engine]:
    """An engine on the configured database; by default refuses an out-of-date schema."""
    from engine.store import current_revision, head_revision, make_engine

    url = database_url(ctx)
    engine = make_engine(url)
    try:
        if require_current:
            current, head = current_revision(engine), head_revision()
            if current != head:
                raise click.ClickException(
                    f"The database {shown(url)} is at schema revision {current or 'none'}, "
                    f"this program needs {head}; run `wf db upgrade` first.")
        yield engine
    finally:
        engine.dispose()


@main.group("db")
def db_group() -> None:
    """Database schema: create and migrate."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True,
              help="Alembic revision to upgrade to.")
@click.pass_context
def upgrade_cmd(ctx: click.Context, revision: str) -> None:
    """Create the database or bring its schema up to date (safe to run again)."""
    from engine.store import upgrade

    url = database_url(ctx)
    at = upgrade(url, revision)
    click.echo(f"Database {shown(url)} is at schema revision {at}.")


@db_group.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Show the database's schema revision and the one this program needs."""
    from engine.store import current_revision, head_revision

    with open_engine(ctx, require_current=False) as engine:
        current = current_revision(engine)
    head = head_revision()
    note = "up to date" if current == head else "run `wf db upgrade`"
    click.echo(f"{shown(database_url(ctx))}: revision {current or 'none'}, "
               f"needed {head} ({note})")
