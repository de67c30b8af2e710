"""``wf user``: manage users, their groups and passwords."""

from __future__ import annotations

import sys

import click

from engine.app import admin, org, user_admin
from engine.cli import main
from engine.cli.db import opened
from engine.config import Config
from engine.errors import WorkflowError
from engine.i18n import _


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(_("Password"), hide_input=True, confirmation_prompt=True,
                                default="", show_default=False)
    if not password:
        raise click.ClickException(_("The password is empty; give a non-empty password."))
    return password


def _warn_unused(config: Config, username: str, groups: tuple[str, ...] | list[str]) -> None:
    """One line on standard error naming the groups no role uses (the user keeps them)."""
    unused = admin.unused_groups(config, groups)
    if not unused:
        return
    names = ", ".join(f"'{u.name}'" + (_(" (did you mean '{name}'?)", name=u.near) if u.near else "")
                      for u in unused)
    said = (_("Warning: no role in config.yaml uses the group {names}, so it gives {user} nothing. "
              "Groups roles use: {used}. Change them with `wf user groups {user} GROUP...`.")
            if len(unused) == 1 else
            _("Warning: no role in config.yaml uses the groups {names}, so they give {user} nothing. "
              "Groups roles use: {used}. Change them with `wf user groups {user} GROUP...`."))
    click.echo(said.format(names=names, user=username, used=", ".join(admin.role_groups(config))), err=True)


@main.group("user")
def user_group() -> None:
    """Users who sign in, and the groups that give them roles."""


@user_group.command("add")
@click.argument("username")
@click.option("--group", "groups", multiple=True, help="Group to join (repeatable).")
@click.option("--full-name", default="", help="Name shown on screens and signatures.")
@click.option("--email", default=None)
@click.option("--locale", type=click.Choice(["zh", "en"]), default=None)
@click.option("--manager", default=None, metavar="NAME",
              help="User name of this user's manager (target of 'escalate: to: manager').")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.pass_context
def add_cmd(ctx: click.Context, username: str, groups: tuple[str, ...], full_name: str,
            email: str | None, locale: str | None, manager: str | None, password_stdin: bool) -> None:
    """Create user USERNAME. A group no role of config.yaml uses is kept, with a warning
    naming the groups roles use (a typo gives no role)."""
    password = _read_password(password_stdin)
    with opened(ctx) as services:
        try:
            user = admin.add_user(services, username, password, groups, full_name=full_name,
                                  email=email, locale=locale, manager=manager)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(_("Created user {user} (groups: {groups}).", user=user.username,
                     groups=", ".join(user.groups) or "-"))
        _warn_unused(services.config, user.username, user.groups)


@user_group.command("groups")
@click.argument("username")
@click.argument("groups", nargs=-1)
@click.option("--add", "added", multiple=True, metavar="GROUP", help="Group to join (repeatable).")
@click.option("--remove", "removed", multiple=True, metavar="GROUP", help="Group to leave (repeatable).")
@click.pass_context
def groups_cmd(ctx: click.Context, username: str, groups: tuple[str, ...], added: tuple[str, ...],
               removed: tuple[str, ...]) -> None:
    """Show the groups of USERNAME, or change them: GROUP... becomes the whole list, or
    --add/--remove change some. As on the user's page, recorded in the organisation chart's
    trail under the command line's name."""
    if groups and (added or removed):
        raise click.UsageError(_("give either the new groups (GROUP...) or --add/--remove, not both"))
    who = org.command_line()
    with opened(ctx) as services:
        try:
            before = list(user_admin.get(services, who, username).groups)
            if not (groups or added or removed):
                click.echo(f"{username}: {', '.join(before) or '-'}")
                return
            changes = (user_admin.edit(services, who, username, groups=groups) if groups
                       else user_admin.edit(services, who, username, joining=added, leaving=removed))
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
        if "groups" not in changes:
            click.echo(_("{user} already has these groups: {groups}; nothing changed.", user=username,
                         groups=", ".join(before) or "-"))
            return
        was, now = changes["groups"]["before"], changes["groups"]["after"]
        click.echo(_("Groups of {user}: {groups} (were: {was}).", user=username, groups=", ".join(now) or "-",
                     was=", ".join(was) or "-"))
        _warn_unused(services.config, username, [g for g in now if g not in was])


@user_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.pass_context
def passwd_cmd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set the password of USERNAME."""
    password = _read_password(password_stdin)
    with opened(ctx) as services:
        try:
            admin.set_password(services, username, password)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(_("Password of {user} changed.", user=username))


@user_group.command("manager")
@click.argument("username")
@click.argument("manager", required=False)
@click.pass_context
def manager_cmd(ctx: click.Context, username: str, manager: str | None) -> None:
    """Set (or, without MANAGER, clear) the manager of USERNAME."""
    with opened(ctx) as services:
        try:
            admin.set_manager(services, username, manager)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(_("Manager of {user}: {manager}.", user=username, manager=manager or _("none")))


@user_group.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """List users with their groups."""
    with opened(ctx) as services:
        users = admin.list_users(services)
    for user in users:
        state = "" if user.active else "  " + _("(inactive)")
        boss = "\t" + _("manager: {user}", user=user.manager) if user.manager else ""
        click.echo(f"{user.username}\t{user.full_name or '-'}\t"
                   f"{','.join(user.groups) or '-'}{boss}{state}")


@user_group.command("deactivate")
@click.argument("username")
@click.pass_context
def deactivate_cmd(ctx: click.Context, username: str) -> None:
    """Stop USERNAME from signing in; their sessions and API tokens end at once. Their
    records and signatures stay as they are."""
    with opened(ctx) as services:
        try:
            changed = admin.set_active(services, username, False)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(_("{user} deactivated; their sessions and tokens have ended.", user=username) if changed
               else _("{user} was already inactive.", user=username))


@user_group.command("activate")
@click.argument("username")
@click.pass_context
def activate_cmd(ctx: click.Context, username: str) -> None:
    """Let USERNAME sign in again (with their password; no earlier session comes back)."""
    with opened(ctx) as services:
        try:
            changed = admin.set_active(services, username, True)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(_("{user} activated.", user=username) if changed else _("{user} was already active.", user=username))


@user_group.command("tokens")
@click.argument("username")
@click.option("--revoke", is_flag=True, required=True,
              help="End every session and API token of USERNAME (sign out everywhere).")
@click.pass_context
def tokens_cmd(ctx: click.Context, username: str, revoke: bool) -> None:
    """Sign USERNAME out everywhere: every browser session and API token issued so far
    stops working; they sign in again with their password."""
    with opened(ctx) as services:
        try:
            admin.revoke_sessions(services, username)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(_("Every session and API token of {user} has ended.", user=username))


@user_group.command("unlock")
@click.argument("username")
@click.pass_context
def unlock_cmd(ctx: click.Context, username: str) -> None:
    """Let USERNAME be tried again at once: forget their failed sign-ins at the sign-in
    page, the API and the password form, from every address."""
    with opened(ctx) as services:
        try:
            cleared = admin.unlock(services, username)
        except WorkflowError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(_("{user} unlocked ({n} count{s} of failed sign-ins cleared).", user=username, n=cleared,
                 s="s" if cleared != 1 else ""))
