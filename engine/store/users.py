"""Users, groups and passwords (scrypt hashes via werkzeug)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, case, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from engine.errors import Conflict, NotFound, WorkflowError
from engine.i18n import _
from engine.store import org
from engine.store.ledger_query import escape_like
from engine.store.prepared import Prepared, batch
from engine.store.tables import Department, Group, PasswordHistory, User, user_groups

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# werkzeug's scrypt at its default cost (about 0.1 s a hash, on purpose). Tests lower it.
PASSWORD_METHOD = "scrypt"

# Checked against when the user does not exist, so both paths take the same time.
_dummy_hashes: dict[str, str] = {}


def _dummy_hash() -> str:
    found = _dummy_hashes.get(PASSWORD_METHOD)
    if found is None:
        found = _dummy_hashes[PASSWORD_METHOD] = generate_password_hash("not a password", method=PASSWORD_METHOD)
    return found


_dummy_hash()  # now, not at the first unknown user


def hash_password(password: str) -> str:
    if not password:
        raise WorkflowError(_("The password must not be empty."))
    return generate_password_hash(password, method=PASSWORD_METHOD)


def get_user(session: Session, username: str, *, lock: bool = False) -> User | None:
    """The user named ``username``; ``lock``: hold their row until the transaction ends
    (PostgreSQL; SQLite's writers take turns anyway), so that a change read from it (their
    groups) and written back cannot cross another's."""
    stmt = select(User).where(User.username == username)
    return session.scalars(stmt.with_for_update() if lock else stmt).first()


# Prepared once: a step reads the acting user's identity together with its instance.
IDENTITY = Prepared(
    select(User.__table__.c.full_name, User.__table__.c.active, Group.__table__.c.name)
    .select_from(User.__table__.outerjoin(user_groups).outerjoin(Group.__table__))
    .where(User.__table__.c.username == bindparam("b_username")))


def identity_of(rows: list[Any]) -> tuple[str, bool, list[str]] | None:
    """(full name, active, group names) from the rows of ``IDENTITY``; None if no user."""
    if not rows:
        return None
    return rows[0][0], rows[0][1], sorted(name for _, _, name in rows if name)


def identity(session: Session, username: str) -> tuple[str, bool, list[str]] | None:
    """(full name, active, group names) of a user in one query, or None if unknown."""
    return identity_of(batch(session, [(IDENTITY, [{"b_username": username}])])[0])


def usernames(session: Session) -> list[str]:
    """Every user name (to refuse a new one that reads as one of them)."""
    return list(session.scalars(select(User.username)))


def full_names(session: Session, usernames: Iterable[str]) -> dict[str, str]:
    """Display names (the user name where no full name is set) of the named users."""
    names = sorted(set(usernames))
    if not names:
        return {}
    rows = session.execute(select(User.username, User.full_name).where(User.username.in_(names)))
    return {u: (n or u) for u, n in rows}


_ACTIVE_USER = Prepared(select(User.__table__.c.username)
                        .where(User.__table__.c.username == bindparam("b_name"),
                               User.__table__.c.active.is_(True)))
# Up to this many names are looked up one prepared statement each (one round trip where the
# driver pipelines); more, as one IN list through the ORM.
ACTIVE_ONE_BY_ONE = 20


def active_among(session: Session, names: Iterable[str]) -> set[str]:
    """Those of ``names`` that are the user names of active users. A form step with a person
    field asks this inside its write transaction; through the ORM an IN list cost about 0.3 ms
    of CPU per step, a tenth of the step's HTTP request, for the one or two names it holds."""
    wanted = sorted(set(names))
    if not wanted:
        return set()
    if len(wanted) <= ACTIVE_ONE_BY_ONE:
        found = batch(session, [(_ACTIVE_USER, [{"b_name": name}]) for name in wanted])
        return {rows[0][0] for rows in found if rows}
    return set(session.scalars(select(User.username).where(User.username.in_(wanted), User.active.is_(True))))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


class Candidate(NamedTuple):
    """An active user as a person field offers them: the name stored, and what people know
    them by (full name, department's name)."""

    username: str
    full_name: str
    department: str


def _names_containing(text: str) -> Any:
    """User name or full name contains ``text``, in any case. Folded by the database on both
    sides: SQLite's lower() folds ASCII only, so a pattern folded by Python (É -> é) would
    miss a name SQLite leaves as it is."""
    inner = func.lower("%" + escape_like(text) + "%")
    return or_(func.lower(User.username).like(inner, escape="\\"),
               func.lower(func.coalesce(User.full_name, "")).like(inner, escape="\\"))


def people_to_pick(session: Session, text: str = "", limit: int = 20) -> list[Candidate]:
    """Up to ``limit`` active users whose user name or full name contains ``text`` (any case),
    those whose user name or full name starts with it first, then by user name. Deactivated
    users are never offered."""
    text = text.strip()
    query = (select(User.username, User.full_name, Department.name)
             .outerjoin(Department, Department.id == User.department).where(User.active.is_(True)))
    order: list[Any] = [User.username]
    if text:
        start = func.lower(escape_like(text) + "%")
        name, full = func.lower(User.username), func.lower(func.coalesce(User.full_name, ""))
        query = query.where(_names_containing(text))
        order = [case((or_(name.like(start, escape="\\"), full.like(start, escape="\\")), 0), else_=1), *order]
    rows = session.execute(query.order_by(*order).limit(limit))
    return [Candidate(u, n or "", d or "") for u, n, d in rows]


def ensure_groups(session: Session, names: Iterable[str]) -> list[Group]:
    """The named groups, created on demand."""
    wanted = sorted({n.strip() for n in names if n and n.strip()})
    if not wanted:
        return []
    found = {g.name: g for g in session.scalars(select(Group).where(Group.name.in_(wanted)))}
    for name in wanted:
        if name not in found:
            found[name] = Group(name=name)
            session.add(found[name])
    return [found[n] for n in wanted]


def add_user(session: Session, username: str, password: str, groups: Iterable[str] = (), *,
             full_name: str = "", email: str | None = None, locale: str | None = None,
             manager: str | None = None, password_hash: str | None = None,
             must_change_password: bool = False, actor: str = "system", at: datetime | None = None) -> User:
    """Create a user; ``Conflict`` if the name is taken, ``NotFound`` for an unknown manager.
    ``password_hash`` (of ``password``, from :func:`hash_password`) saves hashing again;
    ``must_change_password``: the password is temporary (changed at the first sign-in).

    The user joins the organisation chart's trail here, in the same transaction, as
    ``org:user_added`` by ``actor`` at ``at`` (now): whoever adds a user, a page, ``wf user
    add`` or the demo, ``wf audit verify`` can then tell them from a row written behind the
    application's back (``org.membership_findings``)."""
    username = username.strip()
    if not username:
        raise WorkflowError(_("The user name must not be empty."))
    if len(username) > 100 or any(ord(c) < 0x20 for c in username):
        raise WorkflowError(_("The user name must be at most 100 characters, without control characters; "
                              "choose a shorter one (e.g. zhang.san)."))
    if get_user(session, username) is not None:
        raise Conflict(_("User '{user}' already exists; choose another name "
                         "or change that user's password instead.", user=username))
    if manager and get_user(session, manager) is None:
        raise NotFound(_("Manager '{manager}' does not exist; add that user first or leave --manager out.",
                         manager=manager))
    user = User(username=username, full_name=full_name, email=email, locale=locale, manager=manager or None,
                password_hash=password_hash or hash_password(password), active=True, password_changed_at=datetime.now(UTC),
                created_at=datetime.now(UTC), groups=ensure_groups(session, groups),
                must_change_password=must_change_password)
    session.add(user)
    session.flush()
    org.changed(session, actor, "user_added", {
        "user": username, "full_name": full_name, "email": email, "groups": [g.name for g in user.groups],
        "manager": manager or None, "temporary_password": must_change_password}, at or datetime.now(UTC))
    return user


def set_password(session: Session, username: str, password: str, *, password_hash: str | None = None,
                 temporary: bool = False) -> User:
    """Set the user's password (``password_hash``: of ``password``, hashed already, outside
    the write transaction); ``temporary``: it must be changed at the next sign-in (an
    administrator's reset), else the flag is cleared (the user chose it)."""
    user = get_user(session, username)
    if user is None:
        raise NotFound(_("user '{user}' does not exist; see 'wf user list'", user=username))
    now = datetime.now(UTC)
    session.add(PasswordHistory(username=user.username, password_hash=user.password_hash, replaced_at=now))
    user.password_hash = password_hash or hash_password(password)
    user.password_changed_at = now
    user.must_change_password = temporary
    user.session_version += 1  # a new password ends the sessions and tokens of the old one
    session.flush()
    return user


def end_sessions(session: Session, username: str) -> int:
    """End every session and API token of the user (they carry the version before this);
    returns the new version."""
    user = get_user(session, username)
    if user is None:
        raise NotFound(_("user '{user}' does not exist; see 'wf user list'", user=username))
    user.session_version += 1
    session.flush()
    return user.session_version


def set_active(session: Session, username: str, active: bool) -> User:
    """Activate or deactivate a user; deactivating ends their sessions and tokens too."""
    user = get_user(session, username)
    if user is None:
        raise NotFound(_("user '{user}' does not exist; see 'wf user list'", user=username))
    if user.active != active:
        user.active = active
        user.session_version += 1
        org.touch(session)  # an inactive user holds no post in the chart's snapshot
    session.flush()
    return user


# Prepared: every API request checks its token with it (through the ORM's execute it cost
# about a quarter of a millisecond of CPU, more than the rest of the check).
_SESSION_VERSION = Prepared(
    select(User.__table__.c.session_version, User.__table__.c.active)
    .where(User.__table__.c.username == bindparam("b_username")))


def session_version(session: Session, username: str) -> int | None:
    """The session version of an active user; None for an unknown or inactive one."""
    rows = batch(session, [(_SESSION_VERSION, [{"b_username": username}])])[0]
    return rows[0][0] if rows and rows[0][1] else None


def set_groups(session: Session, username: str, groups: Iterable[str]) -> User:
    user = get_user(session, username)
    if user is None:
        raise NotFound(_("user '{user}' does not exist; see 'wf user list'", user=username))
    user.groups = ensure_groups(session, groups)
    session.flush()
    return user


def check_password(session: Session, username: str, password: str) -> User | None:
    """The active user whose password this is, else None (unknown, inactive or wrong)."""
    user = get_user(session, username)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    # An empty password is hashed too: answered at once, it told a known name from an
    # unknown one (which pays for the dummy hash above) by the time taken.
    if not check_password_hash(user.password_hash, password or "") or not password:
        return None
    return user if user.active else None


def groups_of(user: User) -> list[str]:
    """The names of the user's groups, sorted."""
    return sorted(g.name for g in user.groups)


def recent_hashes(session: Session, username: str, count: int) -> list[str]:
    """The hashes of the user's last ``count`` passwords, the current one first."""
    user = get_user(session, username)
    if user is None or count <= 0:
        return []
    older = session.scalars(select(PasswordHistory.password_hash)
                            .where(PasswordHistory.username == username)
                            .order_by(PasswordHistory.id.desc()).limit(count - 1))
    return [user.password_hash, *older]


def matches(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


class Summary(NamedTuple):
    """A user as the administrators' list shows them."""

    username: str
    full_name: str
    email: str | None
    active: bool
    manager: str | None
    must_change_password: bool
    groups: tuple[str, ...]


def search_users(session: Session, text: str = "", *, offset: int = 0,
                 limit: int | None = 50) -> tuple[list[Summary], int]:
    """Users whose user name or full name contains ``text`` (any case), by user name: the
    ``limit`` from ``offset`` on (None: all) and how many there are. Three statements
    whatever the number of users: the count, the page, the page's groups."""
    text = text.strip()
    where: list[Any] = []
    if text:
        where.append(_names_containing(text))
    total = session.execute(select(func.count()).select_from(User).where(*where)).scalar() or 0
    query = (select(User.id, User.username, User.full_name, User.email, User.active, User.manager,
                    User.must_change_password).where(*where).order_by(User.username).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    groups: dict[int, list[str]] = {}
    if rows:
        ids = [r.id for r in rows]
        member = (select(user_groups.c.user_id, Group.name)
                  .join(Group, Group.id == user_groups.c.group_id).order_by(Group.name))
        # One IN list for a page; all users (the command line's list) read every membership.
        if limit is not None:
            member = member.where(user_groups.c.user_id.in_(ids))
        for uid, name in session.execute(member):
            groups.setdefault(uid, []).append(name)
    return [Summary(r.username, r.full_name or "", r.email, bool(r.active), r.manager,
                    bool(r.must_change_password), tuple(groups.get(r.id, ())))
            for r in rows], int(total)


def group_names(session: Session) -> list[str]:
    """Every group someone is in, by name. A group row nobody is in any more (one left behind
    when its last member left it, or made by a forged post before groups were bounded) gives
    no role and is not offered."""
    return list(session.scalars(select(Group.name).where(Group.id.in_(select(user_groups.c.group_id)))
                                .order_by(Group.name)))


def update_user(session: Session, username: str, **fields: Any) -> User:
    """Set ``full_name``, ``email`` and/or ``locale`` of the user."""
    user = get_user(session, username)
    if user is None:
        raise NotFound(_("user '{user}' does not exist; see 'wf user list'", user=username))
    for name, value in fields.items():
        if name not in ("full_name", "email", "locale"):
            raise ValueError(name)
        setattr(user, name, value)
    session.flush()
    return user
