"""User administration: who may sign in, their groups (and so their roles and signatures),
their manager and their password, for the administrators' pages (/admin/users) and for
``wf user`` alike.

* **Who**: one rule, ``rights``: a ``Reader`` who is an administrator (``Reader.admin``: a
  group of role ``admin``), or a plain string, the operator of the command line
  (``org.command_line()``), who holds the database's keys anyway. Auditors change nothing
  (an auditor who is an administrator sees the pages only); others get ``NotPermitted``.
* **Self-lockout**: an administrator cannot deactivate themselves, nor take away their own
  administrator group, nor reset their own password here (they use "Change password"): each
  would leave them, maybe everyone, locked out. The message says what to do instead.
* **Audit**: every change is an ``org:*`` event on the organisation chart's hash chain
  (``engine.store.org.changed``) in the same transaction as the change: ``user_added``,
  ``user_edited`` (each field before and after; never a password), ``user_deactivated``,
  ``user_activated``, ``password_reset``, ``user_unlocked``, ``sessions_ended``. Nothing is
  recorded when nothing changed.
* **Clearance** (every masked value in clear) is given, and its holders' passwords reset, on
  the server only (``wf user groups``, ``wf user passwd``): an administrator in the browser
  could otherwise give it to an account whose password they set and read as that account.
  Taking it away is allowed everywhere.
* **Temporary passwords**: a user added or a password reset by an administrator in the
  browser must choose their own at the next sign-in (``users.must_change_password``,
  ``people.password_expired``). The command line keeps its passwords as they are given.
* **Refusals** a person can cause are ``FormInvalid`` with every problem at its field
  (``username``, ``full_name``, ``email``, ``groups``, ``manager``, ``password``), so the page
  shows each beside its input and keeps what was typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.app import org, people
from engine.app.access import Reader, reader_of, refuse_auditor, special_groups
from engine.errors import FieldError, FormInvalid, NotFound, NotPermitted
from engine.i18n import _
from engine.language.english import shown
from engine.store import org as org_store
from engine.store import sign_in
from engine.store import users as user_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.services import Services

PAGE_SIZE = 50
MAX_NAME = 100  # users.username, groups.name
MAX_TEXT = 200  # users.full_name, users.email
MAX_GROUPS = 100  # groups of one user: the shipped config names 48 in all
# Characters a page does not show as themselves: controls (C0, DEL, C1), format characters
# (zero-width, direction overrides), line and paragraph separators, private and unassigned.
_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
# Enough to catch a typo (no @, no domain, a space); the mail server has the last word.
# One mailbox: a comma, semicolon, angle bracket or quote makes a mail library read a list of
# recipients (a,b@example.com goes to two mailboxes, one of them not the user's).
_NOT_IN_ADDRESS = r"@\s,;<>()\[\]\\\""
_EMAIL = re.compile(rf"^[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}]+\.[^{_NOT_IN_ADDRESS}.]+$")

KINDS = ("user_added", "user_edited", "user_deactivated", "user_activated", "password_reset",
         "user_unlocked", "sessions_ended",
         "users_recorded")  # every user as they stood when the trail began to hold them (migration 0022)


# --------------------------------------------------------------------------- who


@dataclass(frozen=True)
class Rights:
    """What someone may do with the users (and the organisation chart)."""

    see: bool  # the user pages (the list, one user) and the link to them
    change: bool  # add, edit, the actions on a user; the chart's changes


def rights(who: Reader | str | None) -> Rights:
    """The one rule of who manages users, asked by the use cases here and in ``org``, by the
    pages (what they offer), their link and the "add a user" page: administrators see and
    change; an auditor who is also an administrator sees only (auditors change nothing);
    the command line (a plain string) does both; everyone else neither."""
    if isinstance(who, str):
        return Rights(see=True, change=True)
    if who is None or not who.admin:
        return Rights(see=False, change=False)
    return Rights(see=True, change=not who.auditor)


def _admin(who: Reader | str) -> str:
    """The name a reading is done under: an administrator, or the command line."""
    if not rights(who).see:
        raise NotPermitted(_("only administrators manage users; ask one to make this change"))
    return who if isinstance(who, str) else who.username


def require_change(who: Reader | str) -> str:
    """The name a change is done under; ``NotPermitted`` unless ``rights(who).change``
    (auditors, even administrators among them, hear that auditors change nothing)."""
    if not rights(who).change and not isinstance(who, str):
        refuse_auditor(who)
    return _admin(who)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class UserPage:
    users: list[user_store.Summary]
    total: int
    page: int
    pages: int
    text: str
    manager_names: dict[str, str]


def search(services: Services, who: Reader | str, text: str = "", page: int = 1, *,
           size: int | None = PAGE_SIZE) -> UserPage:
    """Users whose user name or full name contains ``text``, ``size`` a page (None: all, for
    the command line), with the total. A fixed number of statements whatever the count."""
    _admin(who)
    text = (text or "").strip()[:MAX_NAME]
    page = max(1, page)
    with services.database.reading() as session:
        offset = (page - 1) * size if size else 0
        found, total = user_store.search_users(session, text, offset=offset, limit=size)
        if size and not found and total and page > 1:  # past the end: the last page
            page = (total + size - 1) // size
            found, total = user_store.search_users(session, text, offset=(page - 1) * size, limit=size)
        names = user_store.full_names(session, {u.manager for u in found if u.manager})
    pages = max(1, (total + size - 1) // size) if size else 1
    return UserPage(found, total, page, pages, text, names)


@dataclass(frozen=True)
class UserDetail:
    username: str
    full_name: str
    email: str | None
    active: bool
    manager: str | None
    manager_name: str
    department: str | None
    department_name: str  # as the chart names it ("" without a department)
    groups: tuple[str, ...]
    must_change_password: bool
    created_at: datetime | None
    password_changed_at: datetime | None
    failed_sign_ins: int  # still counted (within the lock-out window), every door and address: what unlock forgets
    is_self: bool  # the reader themselves (self-lockout: no deactivate, no own reset)


def get(services: Services, who: Reader | str, username: str) -> UserDetail:
    """One user as the edit page shows them; ``NotFound`` for a name nobody has."""
    me = _admin(who)
    with services.database.reading() as session:
        user = _user(session, username, who)
        manager_name = user_store.full_names(session, [user.manager]).get(user.manager, "") if user.manager else ""
        failed = people.failed_sign_ins(services, session, user.username)
        dept = org_store.get_department(session, user.department) if user.department else None
        return UserDetail(user.username, user.full_name or "", user.email, bool(user.active), user.manager,
                          manager_name, user.department, dept.name if dept else (user.department or ""),
                          tuple(user_store.groups_of(user)),
                          bool(user.must_change_password), user.created_at, user.password_changed_at,
                          failed, user.username == me and not isinstance(who, str))


def _user(session: Session, username: str, who: Reader | str, *, lock: bool = False) -> Any:
    """The user (``lock``: their row held until the change commits, see ``get_user``);
    ``NotFound`` for a name nobody has, with a hint for where ``who`` is: the command
    line's ``wf user list``, or the pages' list of users."""
    user = user_store.get_user(session, username, lock=lock)
    if user is None:
        if isinstance(who, str):
            raise NotFound(_("user '{user}' does not exist; see 'wf user list'", user=username))
        raise NotFound(_("There is no user '{user}'; look for them in the list of users (“Users” at the top "
                         "of the page) and open them from there, or add them.", user=username))
    return user


@dataclass(frozen=True)
class Grant:
    """A role a group gives in one procedure, as the reader reads them."""

    procedure: str
    role: str


@dataclass(frozen=True)
class GroupChoice:
    """A group offered as a checkbox: what it gives (roles in procedures; administrator,
    auditor, clearance to read masked values)."""

    name: str
    grants: tuple[Grant, ...]
    admin: bool
    auditor: bool
    cleared: bool


def group_choices(services: Services, who: Reader | str, locale: str = "zh",
                  chosen: Iterable[str] = ()) -> list[GroupChoice]:
    """Every group of config ``roles:`` (and the auditors' and clearance groups), every
    group someone is in and those in ``chosen``, by name, each with the roles it gives in
    the current procedures (titles in ``locale``)."""
    _admin(who)
    config = services.config
    roles: Mapping[str, Any] = config.get("roles", default={}) or {}
    special = special_groups(config)
    names: set[str] = {str(g) for groups in roles.values() for g in (groups or [])}
    names |= special.auditors | special.cleared | {c for c in chosen if c}
    grants: dict[str, list[Grant]] = {}
    with services.database.reading() as session:
        names |= set(user_store.group_names(session))
        for proc, _vid in services.workflow.current(session):
            title = shown(proc, "title", locale)
            for role in proc.roles:
                for group in config.groups_for_role(proc.id, role):
                    grants.setdefault(str(group), []).append(Grant(title, proc.role_title(role, locale)))
    return [GroupChoice(n, tuple(grants.get(n, ())), n in special.admins, n in special.auditors, n in special.cleared)
            for n in sorted(names)]


def people_offer(services: Services) -> people.PeopleOffer:
    """Who the manager field offers (``people.offer``: everyone in a small company)."""
    with services.database.reading() as session:
        return people.offer(session)


# --------------------------------------------------------------------------- checking


def _text_problem(value: str, limit: int) -> bool:
    return len(value) > limit or any(unicodedata.category(c) in _HIDDEN for c in value)


def folded(username: str) -> str:
    """The form two user names that read alike share: "Root", "ROOT" and a full-width
    "ｒｏｏｔ" are all "root" (the sign-in throttle, ``sign_in.fold_name``, counts the first
    two as one name; the full-width one cannot sign in as root anyway)."""
    return unicodedata.normalize("NFKC", username).casefold()


# Names the trail and the pages give to the application itself and to the command line.
_RESERVED = ("system", "cli")


def _check_username(username: str) -> str | None:
    if not username:
        return _("The user name must not be empty.")
    if username.lower() in _RESERVED or username.lower().startswith("cli:"):
        return _("'{user}' names the application itself on the records; choose another user name.", user=username)
    if _text_problem(username, MAX_NAME):
        return _("The user name must be at most 100 characters, without control characters; "
                 "choose a shorter one (e.g. zhang.san).")
    return None


def _look_alike(session: Session, username: str) -> str | None:
    """An existing user whose name reads as ``username`` (case, full-width forms), if any."""
    key = folded(username)
    return next((name for name in user_store.usernames(session) if folded(name) == key), None)


def _check_email(email: str | None) -> str | None:
    if email and (len(email) > MAX_TEXT or not _EMAIL.match(email)):
        return _("'{email}' is not an e-mail address; write it as name@example.com or leave it empty",
                 email=email[:MAX_TEXT])
    return None


def _check_full_name(full_name: str) -> str | None:
    if _text_problem(full_name, MAX_TEXT):
        return _("The full name must be at most {n} characters, without control characters.", n=MAX_TEXT)
    return None


def _clean_groups(groups: Iterable[str], errors: list[FieldError]) -> list[str]:
    out = sorted({g.strip() for g in groups if g and g.strip()})
    if len(out) > MAX_GROUPS:
        errors.append({"field": "groups", "message": _(
            "{count} groups were chosen; a user has at most {n}: tick only the groups that give them their work",
            count=len(out), n=MAX_GROUPS)})
        return out[:MAX_GROUPS]
    bad = [g for g in out if _text_problem(g, MAX_NAME)]
    if bad:
        errors.append({"field": "groups", "message": _(
            "A group name must be at most 100 characters, without control characters: {names}",
            names=", ".join(b[:MAX_NAME] for b in bad))})
    return out


def _manager_problem(session: Session, username: str, manager: str, *,
                     adding: bool = False) -> tuple[org.Placing | None, str | None]:
    """The chart's own check of ``manager`` as the manager of ``username`` (``org.placing``;
    ``adding``: a user being added) and what is wrong with it, in the words of the manager
    field: unknown, themselves, or a loop in the chart."""
    if manager == username:
        return None, _("A user cannot be their own manager; pick someone else or leave the field empty.")
    if manager and user_store.get_user(session, manager) is None:
        # Said to the page's manager field and to `wf user manager` alike: no list in it.
        return None, _("There is no user '{manager}'; name an existing user as the manager, or none.",
                       manager=manager)
    found = org.placing(session, username, manager=manager, adding=adding)
    return found, " ".join(p.message for p in found.problems) or None


def _refuse(errors: list[FieldError]) -> None:
    if errors:
        raise FormInvalid(" ".join(e["message"] for e in errors), errors=errors)


def _password_errors(services: Services, username: str, password: str, *, exempt_history: bool) -> list[FieldError]:
    try:
        people.check_new_password(services, username, password, field="password", exempt_history=exempt_history)
    except FormInvalid as exc:
        return list(exc.errors)
    return []


# --------------------------------------------------------------------------- changes


@dataclass(frozen=True)
class Added:
    username: str
    groups: tuple[str, ...]


def create(services: Services, who: Reader | str, username: str, password: str, *, full_name: str = "",
           email: str | None = None, groups: Iterable[str] = (), manager: str | None = None,
           locale: str | None = None, temporary: bool = True) -> Added:
    """Add a user. ``temporary``: the password must be changed at the first sign-in (the
    pages); the command line gives a lasting one. Every refusal at its field."""
    actor = require_change(who)
    username, full_name = (username or "").strip(), (full_name or "").strip()
    email, manager = (email or "").strip() or None, (manager or "").strip() or None
    errors: list[FieldError] = []
    for field, problem in (("username", _check_username(username)), ("full_name", _check_full_name(full_name)),
                           ("email", _check_email(email))):
        if problem:
            errors.append({"field": field, "message": problem})
    chosen = _clean_groups(groups, errors)
    errors += _clearance_given(services, who, chosen, [])
    with services.database.reading() as session:
        if username and user_store.get_user(session, username) is not None:
            errors.append({"field": "username", "message": _(
                "User '{user}' already exists; choose another name or change that user's password instead.",
                user=username)})
        elif username and (alike := _look_alike(session, username)) is not None:
            errors.append({"field": "username", "message": _(
                "'{user}' reads as the existing user '{other}' (only case or character width differ); "
                "choose a name that cannot be taken for theirs.", user=username, other=alike)})
        problem = _manager_problem(session, username, manager, adding=True)[1] if manager else None
        if problem:
            errors.append({"field": "manager", "message": problem})
    errors += _password_errors(services, username, password, exempt_history=True)
    _refuse(errors)
    hashed = user_store.hash_password(password)  # scrypt outside the write lock
    with services.database.writing() as session:
        if user_store.get_user(session, username) is not None:  # added meanwhile
            _refuse([{"field": "username", "message": _(
                "User '{user}' already exists; choose another name or change that user's password instead.",
                user=username)}])
        user = user_store.add_user(session, username, password, chosen, full_name=full_name, email=email,
                                   locale=locale, manager=manager, password_hash=hashed,
                                   must_change_password=temporary, actor=actor, at=services.now())
        return Added(user.username, tuple(chosen))


KEEP = org.KEEP  # one sentinel for "leave it as it is", the chart's


def edit(services: Services, who: Reader | str, username: str, *, full_name: str | None = None,
         email: str | None = KEEP, groups: Iterable[str] | None = None, manager: str | None = KEEP,
         joining: Iterable[str] = (), leaving: Iterable[str] = ()) -> dict[str, Any]:
    """Change a user's full name, e-mail, groups and/or manager (None or ``KEEP`` leaves
    one as it is; "" clears e-mail and manager). ``joining``/``leaving`` (instead of
    ``groups``) add and remove some groups, applied to the groups the user has inside the
    write transaction, so that two such changes at once both count. Returns
    ``{field: {before, after}}`` of what changed (recorded as ``user_edited``; nothing when
    nothing changed)."""
    actor = require_change(who)
    joining, leaving = list(joining), {g.strip() for g in leaving}
    if groups is not None and (joining or leaving):
        raise ValueError("give either groups or joining/leaving, not both")
    errors: list[FieldError] = []
    if full_name is not None:
        full_name = full_name.strip()
        if _check_full_name(full_name):
            errors.append({"field": "full_name", "message": _check_full_name(full_name) or ""})
    if email is not KEEP:
        email = (email or "").strip() or None
        if _check_email(email):
            errors.append({"field": "email", "message": _check_email(email) or ""})
    with services.database.writing() as session:
        user = _user(session, username, who, lock=True)
        if joining or leaving:
            groups = [g for g in user_store.groups_of(user) if g not in leaving] + joining
        chosen = _clean_groups(groups, errors) if groups is not None else None
        if chosen is not None:
            errors += _clearance_given(services, who, chosen, user_store.groups_of(user), user)
        if chosen is not None and not isinstance(who, str) and username == who.username:
            errors += _own_groups(services, who, chosen)
        placed = None
        if manager is not KEEP:
            placed, problem = _manager_problem(session, user.username, (manager or "").strip())
            if problem:
                errors.append({"field": "manager", "message": problem})
        _refuse(errors)
        before: dict[str, Any] = {"full_name": user.full_name or "", "email": user.email,
                                  "groups": user_store.groups_of(user)}
        after: dict[str, Any] = {"full_name": before["full_name"] if full_name is None else full_name,
                                 "email": before["email"] if email is KEEP else email,
                                 "groups": before["groups"] if chosen is None else chosen}
        changes: dict[str, Any] = {key: {"before": before[key], "after": after[key]}
                                   for key in ("full_name", "email", "groups") if after[key] != before[key]}
        if placed is not None:  # the manager: the chart's change (checked whole, and written, there)
            changes.update(placed.changes)
        if not changes:
            return {}
        fields = {k: after[k] for k in ("full_name", "email") if k in changes}
        if fields:
            user_store.update_user(session, username, **fields)
        if "groups" in changes:
            user_store.set_groups(session, username, after["groups"])
        if placed is not None:
            org.place(session, placed)
        org_store.changed(session, actor, "user_edited", {"user": username, "changes": changes}, services.now())
        return changes


def _own_groups(services: Services, who: Reader, chosen: list[str]) -> list[FieldError]:
    """What an administrator may not do to their own groups: take away their administrator
    group (they would lose the page at once), or join an auditors' group (auditors change
    nothing, so they could not even take it back: locked out by a second path). Clearance is
    nobody's to give here (``_clearance_given``)."""
    special = special_groups(services.config)
    errors: list[FieldError] = []
    if not reader_of(services.config, who.username, chosen).admin:
        errors.append({"field": "groups", "message": _(
            "You cannot take away your own administrator group ({groups}): you would lose this page at once. "
            "Keep it, or ask another administrator to change your groups.",
            groups=", ".join(sorted(special.admins)))})
    auditors = sorted(set(chosen) & special.auditors)
    if auditors:
        errors.append({"field": "groups", "message": _(
            "You cannot put yourself in the auditors' group ({groups}): auditors change nothing, so you could "
            "not take it back. Ask another administrator, or use a separate account for auditing.",
            groups=", ".join(auditors))})
    return errors


def _refuse_cleared_reset(services: Services, who: Reader | str, user: Any) -> None:
    """Whoever resets a password knows it: a cleared user's is reset on the server only."""
    cleared = sorted(set(user_store.groups_of(user)) & special_groups(services.config).cleared)
    if cleared and not isinstance(who, str):
        raise NotPermitted(_("{user} holds the clearance to read masked values ({groups}): their password is "
                             "reset on the server (wf user passwd {user}), or take the clearance away first.",
                             user=user.username, groups=", ".join(cleared)))


def _clearance_given(services: Services, who: Reader | str, chosen: list[str], had: list[str],
                     user: Any = None) -> list[FieldError]:
    """Clearance (every masked value in clear) is given on the server only: an administrator
    in the browser who could give it could also give it to an account whose password they
    set (a new user, a reset) and read as that account. The command line's operator holds
    the database's keys anyway, but not to a ``user`` still on a temporary password an
    administrator set (who set it would choose the next one at sign-in). Taking it away is
    anyone's."""
    given = sorted((set(chosen) - set(had)) & special_groups(services.config).cleared)
    if not given:
        return []
    if isinstance(who, str):
        if user is not None and user.must_change_password:
            return [{"field": "groups", "message": _(
                "{user} still has a temporary password an administrator set; whoever set it could sign in as them. "
                "Set their password here first (wf user passwd {user}), then give the clearance.",
                user=user.username)}]
        return []
    return [{"field": "groups", "message": _(
        "The clearance to read masked values ({groups}) is given on the server, not here: "
        "wf user groups NAME --add {group} (it is recorded). Untick it to save the other changes.",
        groups=", ".join(given), group=given[0])}]


def set_active(services: Services, who: Reader | str, username: str, active: bool) -> bool:
    """Activate or deactivate a user (deactivating ends their sessions and API tokens);
    whether anything changed. Nobody deactivates themselves here."""
    actor = require_change(who)
    if not active and not isinstance(who, str) and username == who.username:
        raise NotPermitted(_("You cannot deactivate your own account: you would be signed out and could not "
                             "undo it. Ask another administrator to do it."))
    with services.database.writing() as session:
        user = _user(session, username, who, lock=True)
        if bool(user.active) == active:
            return False
        user_store.set_active(session, username, active)
        org_store.changed(session, actor, "user_activated" if active else "user_deactivated",
                          {"user": username}, services.now())
        return True


def reset_password(services: Services, who: Reader | str, username: str, password: str, *,
                   temporary: bool = True) -> None:
    """Give the user a new password (the policy applies; ``FormInvalid`` at ``password``);
    every session and token of theirs ends. ``temporary``: they must change it at the next
    sign-in. An administrator changes their own password with "Change password" instead."""
    actor = require_change(who)
    if not isinstance(who, str) and username == who.username:
        raise NotPermitted(_("You cannot reset your own password here; use “Change password” at the top of "
                             "the page (it asks for your current password)."))
    with services.database.reading() as session:  # before the slow hash
        _refuse_cleared_reset(services, who, _user(session, username, who))
    _refuse(_password_errors(services, username, password, exempt_history=False))
    hashed = user_store.hash_password(password)
    with services.database.writing() as session:
        # again, the row held: clearance may have been given on the server meanwhile
        _refuse_cleared_reset(services, who, _user(session, username, who, lock=True))
        user_store.set_password(session, username, password, password_hash=hashed, temporary=temporary)
        org_store.changed(session, actor, "password_reset", {"user": username, "temporary": temporary},
                          services.now())


def unlock(services: Services, who: Reader | str, username: str) -> int:
    """Forget the user name's failed sign-ins at every door and address; how many of them
    still counted (``people.failed_sign_ins``: what the edit page shows). Recorded, with
    that number, when any did; series past the lock-out window go quietly."""
    actor = require_change(who)
    with services.database.writing() as session:
        user = _user(session, username, who, lock=True)
        failures = people.failed_sign_ins(services, session, user.username)
        sign_in.clear_name(session, user.username, people.DOORS)
        if failures:
            org_store.changed(session, actor, "user_unlocked", {"user": user.username, "failed_sign_ins": failures},
                              services.now())
        return failures


def end_sessions(services: Services, who: Reader | str, username: str) -> None:
    """Sign the user out everywhere: every session cookie and API token issued so far."""
    actor = require_change(who)
    with services.database.writing() as session:
        _user(session, username, who, lock=True)
        user_store.end_sessions(session, username)
        org_store.changed(session, actor, "sessions_ended", {"user": username}, services.now())
