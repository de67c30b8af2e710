"""People: who is signed in, passwords, delays after failed sign-ins, the UI language.

Sessions and API tokens carry the user's session version from when they were issued; a
session or token whose version is no longer the user's, or whose user is inactive, signs
nobody in. Signing out, a password change, deactivation and an administrator's
``wf user tokens NAME --revoke`` bump the version, so each ends every session and token of
the user at once (a signed cookie replayed after sign-out no longer works).

From ``LOCK_AFTER`` failed sign-ins in a row for one user name from one address, that
address waits before trying the name again (``Door``: a doubling delay, at most ``WINDOW``);
other addresses, the user's own among them, are not held up. The count is kept in the
database (``engine/store/sign_in.py``), so it holds across server processes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from engine.app.access import special_groups
from engine.errors import FormInvalid, NotPermitted
from engine.i18n import LOCALES, _, local_time, reader_locale
from engine.store import org as org_store
from engine.store import sign_in
from engine.store import users as user_store
from engine.store.audit import parse_time

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.access import Reader
    from engine.app.services import Services
    from engine.config import Config
    from engine.language.forms import Form

LOCK_AFTER = 5
WINDOW = 15 * 60  # seconds


@dataclass(frozen=True)
class Person:
    """A signed-in user as pages and the API need them (no database session attached)."""

    username: str
    full_name: str
    locale: str | None
    groups: tuple[str, ...]
    session_version: int = 0
    password_changed_at: datetime | None = None
    # The password was set by an administrator (a new user, a reset): changed at sign-in.
    must_change_password: bool = False

    @property
    def display(self) -> str:
        return self.full_name or self.username


def active_person(services: Services, username: str, version: int | None = None) -> Person | None:
    """The user if they exist, are active and (given ``version``, the one their session
    was issued under) have not ended their sessions since; else None (signed out)."""
    with services.database.reading() as s:
        user = user_store.get_user(s, username)
        if user is None or not user.active:
            return None
        if version is not None and version != user.session_version:
            return None
        return Person(user.username, user.full_name or "", user.locale,
                      tuple(user_store.groups_of(user)), user.session_version,
                      user.password_changed_at, bool(user.must_change_password))


def token_valid(services: Services, username: str, version: int) -> bool:
    """Whether an API token issued to ``username`` under ``version`` still signs them in."""
    with services.database.reading() as s:
        return _token_valid_in(s, username, version)


def _token_valid_in(session: Session, username: str, version: int) -> bool:
    return user_store.session_version(session, username) == version


def end_sessions(services: Services, username: str) -> int:
    """End every session and API token of the user (sign-out; sign out everywhere)."""
    with services.database.writing() as s:
        return user_store.end_sessions(s, username)


def authenticate(services: Services, username: str, password: str) -> str | None:
    """The user name when the password is right for an active user, else None."""
    with services.database.reading() as s:
        user = user_store.check_password(s, username, password)
        return user.username if user is not None else None


def session_version(services: Services, username: str) -> int:
    """The version a new session or token of an active user is issued under."""
    with services.database.reading() as s:
        return user_store.session_version(s, username) or 0


def set_locale(services: Services, username: str, locale: str) -> None:
    if locale not in LOCALES:
        raise ValueError(locale)
    with services.database.writing() as s:
        user = user_store.get_user(s, username)
        if user is not None:
            user.locale = locale


DOORS = ("web", "api", "password")


class Door:
    """Failed sign-ins at one door (``web``: the sign-in page; ``api``: the token endpoint;
    ``password``: the change-password form and endpoint), counted per user name *and*
    client address, so that nobody can lock a user out from elsewhere (the attacker's
    address is slowed down, the user's is not).

    From the ``limit``-th failure in a row, each further attempt from that address for that
    name waits: ``first_delay`` seconds, doubling with every failure, at most ``window``.
    Beside that, one address may fail ``per_address`` times in a row over all names before
    it waits as well (one machine trying many accounts). Admins clear a name with
    ``wf user unlock``."""

    def __init__(self, services: Services, kind: str, limit: int = LOCK_AFTER,
                 window: float = WINDOW, *, first_delay: float | None = None,
                 per_address: int | None = None) -> None:
        self.services = services
        self.kind = kind
        self.limit = limit
        self.window = timedelta(seconds=window)
        self.first_delay = timedelta(seconds=first_delay if first_delay is not None else min(60.0, window))
        self.per_address = per_address if per_address is not None else 10 * limit

    def _key(self, username: str, address: str | None) -> str:
        name = sign_in.fold_name(username)
        address = address[:64] if address is not None else None
        return f"{self.kind}:{name}" if address is None else f"{self.kind}:{name}|{address}"

    def _address_key(self, address: str | None) -> str | None:
        return f"{self.kind}@{address}" if address is not None else None

    def delay(self, failures: int, limit: int) -> timedelta | None:
        """How long the ``failures``-th failure in a row shuts the door (None: not at all)."""
        if failures < limit:
            return None
        return min(self.window, self.first_delay * 2 ** min(failures - limit, 20))

    def _until(self, found: tuple[int, datetime] | None, limit: int, now: datetime) -> datetime | None:
        if found is None:
            return None
        wait = self.delay(found[0], limit)
        return found[1] + wait if wait is not None and now < found[1] + wait else None

    def locked_until(self, username: str, address: str | None = None) -> datetime | None:
        """When the user name may be tried again from that address, or None if now."""
        now = datetime.now(UTC)
        with self.services.database.reading() as s:
            ends = [self._until(sign_in.failures(s, self._key(username, address)), self.limit, now)]
            key = self._address_key(address)
            if key is not None:
                ends.append(self._until(sign_in.failures(s, key), self.per_address, now))
        found = [e for e in ends if e is not None]
        return max(found) if found else None

    def fail(self, username: str, address: str | None = None) -> datetime | None:
        """Count a failure; returns the end of the wait it started, if it did. The user
        hears of the first failure of a series and of the first wait, the administrators
        of the first wait (21 CFR 11.300(d)); at most two notices a series, so failures
        cannot be used to flood anyone's inbox."""
        now = datetime.now(UTC)
        with self.services.database.writing() as s:
            count = sign_in.failed(s, self._key(username, address), now, window=self.window)
            key = self._address_key(address)
            if key is not None:
                sign_in.failed(s, key, now, window=self.window)
            wait = self.delay(count, self.limit)
            until = now + wait if wait is not None else None
            if count == 1 or count == self.limit:
                _notify_failure(self.services, s, self.kind, username, address, until, now)
        return until

    def succeed(self, username: str, address: str | None = None) -> None:
        key = self._key(username, address)
        with self.services.database.reading() as s:
            counted = sign_in.counted(s, key)
        if counted:
            with self.services.database.writing() as s:
                sign_in.succeeded(s, key)

    def sign_in(self, username: str, password: str, address: str | None = None) -> SignIn:
        """Check the password unless the door is shut for now; count the outcome."""
        until = self.locked_until(username, address)
        if until is not None:
            return SignIn(None, until, locked_before=True)
        name = authenticate(self.services, username, password)
        if name is None:
            return SignIn(None, self.fail(username, address))
        self.succeed(username, address)
        return SignIn(name)


def failed_sign_ins(services: Services, session: Session, username: str) -> int:
    """The failed sign-ins of ``username`` that still count, at every door and from every
    address: the series whose last failure is within the lock-out window (``door``'s), the
    ones a lock-out is made of and an unlock forgets (``user_admin.unlock``)."""
    since = datetime.now(UTC) - door(services, "web").window
    return sign_in.failures_of_name(session, username, DOORS, since=since)


def _notify_failure(services: Services, session: Session, door: str, username: str,
                    address: str | None, until: datetime | None, now: datetime) -> None:
    """In-app notices of a failed sign-in (to the user) or a lock-out (to the user and the
    administrators), in the caller's transaction. Nothing for a user name nobody has."""
    from engine.store import timekeeping as tk
    from engine.store.prepared import batch

    name = username.strip()
    if not name or user_store.session_version(session, name) is None:
        return
    people = {name}
    if until is not None:
        admins = sorted(special_groups(services.config).admins)
        people |= {u for members in tk.members(session, admins).values() for u, _e in members}
    data = {"user": name, "address": address, "door": door, "until": until.isoformat() if until else None}
    kind = "locked_out" if until is not None else "sign_in_failed"
    batch(session, tk.notification_writes(
        [{"username": u, "kind": kind, "instance_id": None, "task_id": None, "data": data,
          "created_at": now, "read_at": None} for u in sorted(people)], []))


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt: the user name, or when the door opens again (locked by
    this attempt or, with ``locked_before``, already locked: the password was not checked)."""

    username: str | None
    locked_until: datetime | None = None
    locked_before: bool = False


# --------------------------------------------------------------------------- password policy

# Common passwords people in China also pick, beside zxcvbn's list (mostly English-language
# leaks): pinyin phrases, keyboard walks and dates written the local way.
_COMMON_EXTRA = ("woaini1314", "woaini520", "5201314520", "1314520520", "qq123456789",
                 "a123456789", "abc123456789", "1qaz2wsx3edc", "1q2w3e4r5t", "qwe123456789",
                 "aa123456789", "zxcvbnm123", "asdfghjkl1", "password@123", "admin123456",
                 "admin@1234", "p@ssw0rd123", "woshishui123", "wangyang123", "zhangwei123")


@cache
def common_passwords() -> frozenset[str]:
    """The common passwords refused whatever their length: zxcvbn's list of the 30,000 most
    frequent leaked passwords (a maintained list beats one copied here once), plus a few
    common in China."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | frozenset(_COMMON_EXTRA)


@dataclass(frozen=True)
class PasswordPolicy:
    """Config ``auth.password``: ``min_length`` (10), ``history`` (a new password may not be
    one of the last 5), ``max_age_days`` (none: a change is forced at the first sign-in
    after that many days)."""

    min_length: int = 10
    history: int = 5
    max_age_days: float | None = None

    @classmethod
    def of(cls, config: Config) -> PasswordPolicy:
        raw = config.get("auth", "password", default=None) or {}
        age = raw.get("max_age_days")
        return cls(int(raw.get("min_length", 10)), int(raw.get("history", 5)),
                   float(age) if age else None)


def password_problems(policy: PasswordPolicy, username: str, password: str) -> list[str]:
    """What is wrong with ``password`` as a new password of ``username``, apart from its
    history (which needs the database)."""
    out = []
    if len(password) < policy.min_length:
        out.append(_("The password must have at least {n} characters.", n=policy.min_length))
    if not password.strip():
        out.append(_("The password must not be only spaces."))
    name = username.strip().lower()
    if name and name in password.lower():
        out.append(_("The password must not contain your user name."))
    if password.lower() in common_passwords():
        out.append(_("This password is one of the most common ones and is guessed first; "
                     "choose another (a short sentence is easy to remember)."))
    return out


def check_new_password(services: Services, username: str, password: str, *, field: str = "password",
                       exempt_history: bool = False) -> None:
    """Refuse (``FormInvalid``, every problem named at ``field``) a new password that breaks
    the policy, including one of the user's last ``history`` passwords."""
    policy = PasswordPolicy.of(services.config)
    problems = password_problems(policy, username, password)
    if not problems and not exempt_history and policy.history:
        with services.database.reading() as s:
            hashes = user_store.recent_hashes(s, username, policy.history)
        if any(user_store.matches(h, password) for h in hashes):
            problems.append(_("The password must differ from your last {n} passwords.", n=policy.history))
    if problems:
        raise FormInvalid(" ".join(problems), errors=[{"field": field, "message": p} for p in problems])


# Why a password must be changed before anything else (``change_reason``); each adapter
# words it for its readers (the pages: ``web.html.auth.forced_change``; the API: its token refusal).
TEMPORARY = "temporary"  # an administrator set it (a new user, a reset)
EXPIRED = "expired"  # the policy's maximum age has passed since it was set


def change_reason(services: Services, person: Person, now: datetime | None = None) -> str | None:
    """Why the person must choose a new password before anything else (a forced change at
    sign-in): ``TEMPORARY``, ``EXPIRED``, or None when they need not. A password never
    recorded is not expired."""
    if person.must_change_password:
        return TEMPORARY
    policy = PasswordPolicy.of(services.config)
    if policy.max_age_days is None or person.password_changed_at is None:
        return None
    if (now or datetime.now(UTC)) - person.password_changed_at > timedelta(days=policy.max_age_days):
        return EXPIRED
    return None


def password_expired(services: Services, person: Person, now: datetime | None = None) -> bool:
    """Whether the person must choose a new password before anything else (``change_reason``)."""
    return change_reason(services, person, now) is not None


# How long a sign-in lasts without config ``auth.token_hours``.
SIGN_IN_HOURS = 8


def sign_in_seconds(services: Services) -> int:
    """How long a sign-in lasts (config ``auth.token_hours``, default 8): an API token from
    when it was issued, a page session from its last request."""
    hours = services.config.get("auth", "token_hours", default=None)
    return int(float(hours or SIGN_IN_HOURS) * 3600)


def door(services: Services, kind: str) -> Door:
    """The door ``kind`` as config ``auth.lockout`` sets it up: ``after`` (5) failures in a
    row, then ``first_delay_seconds`` (60) doubling up to ``max_delay_seconds`` (900);
    ``per_address`` (50) failures in a row from one address over all names."""
    raw = services.config.get("auth", "lockout", default=None) or {}
    return Door(services, kind, int(raw.get("after", LOCK_AFTER)), float(raw.get("max_delay_seconds", WINDOW)),
                first_delay=float(raw.get("first_delay_seconds", 60)), per_address=int(raw.get("per_address", 50)))


def change_password(services: Services, username: str, current: str, new: str,
                    address: str | None = None) -> None:
    """The user changes their own password (page and API): the current one must be right,
    the new one must follow the policy. Every session and token of the user ends, the
    caller issues a new one."""
    # Counted like sign-ins, so this form cannot be used to guess passwords without limit.
    attempt = door(services, "password").sign_in(username, current, address)
    if attempt.locked_until is not None:
        raise NotPermitted(_("Too many wrong passwords; try again after {time}.",
                             time=local_time(attempt.locked_until, services.config.timezone, named=True)))
    if attempt.username is None:
        raise NotPermitted(_("The current password is wrong; your password was not changed."))
    if new == current:
        raise FormInvalid(_("The new password must differ from the current one."),
                          errors=[{"field": "new_password",
                                   "message": _("The new password must differ from the current one.")}])
    check_new_password(services, username, new, field="new_password")
    with services.database.writing() as s:
        user_store.set_password(s, username, new)


def token_reader(services: Services, username: str, version: int) -> Reader | None:
    """The API caller as a reader (``access.reader_named``) if a token issued to ``username``
    under ``version`` still signs them in (``token_valid``), else None; one read session
    for both, which every API request asks (issue 20)."""
    from engine.app import access

    with services.database.reading() as s:
        if not _token_valid_in(s, username, version):
            return None
        return access.reader_named(services.config, s, username)


# --------------------------------------------------------------------------- picking a person

# A person field's page carries every active user when there are at most this many (the list
# then works without a round trip, and without JavaScript); a larger company's page carries
# none, and the field asks ``suggestions`` as the name is typed: 5,000 names were 150 KB on
# a phone.
OFFER_ALL_UP_TO = 200
SUGGESTIONS = 20


@dataclass(frozen=True)
class PeopleOffer:
    """Who a page's person fields offer: ``people`` (user name, full name, department) and
    whether that is everyone (``complete``) or the field must ask as the name is typed."""

    people: tuple[user_store.Candidate, ...] = ()
    complete: bool = True

    def __bool__(self) -> bool:
        """False for ``NOBODY``: a page without a person field carries no list at all."""
        return bool(self.people) or not self.complete


NOBODY = PeopleOffer()


def offer(session: Session) -> PeopleOffer:
    """Every active user if there are at most ``OFFER_ALL_UP_TO``, else nobody yet."""
    found = user_store.people_to_pick(session, "", OFFER_ALL_UP_TO + 1)
    if len(found) > OFFER_ALL_UP_TO:
        return PeopleOffer((), complete=False)
    return PeopleOffer(tuple(found), complete=True)


def suggestions(services: Services, text: str, limit: int = SUGGESTIONS) -> list[dict[str, str]]:
    """Active users whose user name or full name contains ``text``, for a person field as it is
    typed: ``{"user", "name", "department"}``, best matches first, at most ``limit``."""
    with services.database.reading() as s:
        return [{"user": c.username, "name": c.full_name, "department": c.department}
                for c in user_store.people_to_pick(s, text[:100], max(1, min(limit, 50)))]


def offer_for(services: Services, form: Form | None) -> PeopleOffer:
    """``offer`` for a page showing ``form`` (a start form): nobody unless it has a person field."""
    if form is None or not form.has_widget("user"):
        return NOBODY
    with services.database.reading() as s:
        return offer(s)


def actor_name(actor: str, names: Mapping[str, str]) -> str:
    """Who a record says made a change, as the reader names them: 系统 for the application
    itself (``system``), 命令行（ops） for ``wf`` (``cli:ops``), else the full name in
    ``names`` (user name -> full name), else the user name."""
    if actor == "system":
        return _("system")
    if actor == "cli" or actor.startswith("cli:"):
        return _("command line ({operator})", operator=actor.partition(":")[2] or "?")
    return names.get(actor) or actor


def refuse_unknown_people(session: Session, form: Form | None, data: object, *, under: str = "",
                          at: str | None = None) -> None:
    """Refuse (``FormInvalid``, 422, at each field) the values of person fields (``x-widget:
    user``) in ``data`` that are not the user name of an active user: what a person field
    may name is someone who can be found and can act, as the field's list offers them. The
    one rule for starts, submissions, earlier values a step changes (``edit:``) and
    corrections, through the pages and the API. Fields the form hides (``x-visible-if``)
    are dropped before they are stored, so they are not judged; an empty value is left to
    ``required``. ``under``: ``data`` is that field's value (a correction's); ``at``: the
    name to report the problem under instead of the field's path (``value``, ``STEP.FIELD``)."""
    if form is None or not form.has_widget("user", under):
        return
    kept = form.clean(data) if not under and isinstance(data, dict) else data
    named: list[tuple[str, str]] = []
    for path, value in form.values_with_widget("user", kept, under):
        for one in value if isinstance(value, list) else [value]:
            if one is None or one == "":
                continue
            named.append((path, one if isinstance(one, str) else str(one)))
    if not named:
        return
    active = user_store.active_among(session, {name for _path, name in named if len(name) <= 200})
    errors = []
    for path, name in named:
        if name in active:
            continue
        message = _("'{value}' is no active user of the system: {field} must name an active user. Type part "
                    "of their name or user name and choose them from the list.",
                    value=name[:60], field=_person_field_title(form, path))
        errors.append({"field": at or path, "message": message})
    if errors:
        raise FormInvalid(errors[0]["message"], errors=errors)


def _person_field_title(form: Form, path: str) -> str:
    """The title of the field at a data path (``visits.0.owner``: the table's column)."""
    spath = ".".join(part for part in path.split(".") if not part.isdigit())
    return form.field_title(spath if spath in form.fields else path.split(".")[0], reader_locale())


@dataclass(frozen=True)
class NamesThen:
    """Full names as a record's readers need them: each user's name now (``now``) and as it
    was at a time (``at``), from the chart's trail of renames (``user_edited``). Read once
    per page (``names_then``), so that a timeline of many events asks the database twice."""

    now: Mapping[str, str]
    changes: Mapping[str, list[tuple[datetime, str]]]

    def at(self, user: str, when: object) -> str:
        """The full name ``user`` had at ``when`` (ISO text or a datetime): the name before
        the first rename after it, else the current one; the user name where there is none.
        A later rename does not rewrite who did what on a record."""
        moment = _aware(when)
        later = [before for changed, before in self.changes.get(user, ())
                 if moment is not None and changed > moment]
        return (later[0] if later else self.now.get(user, "")) or user


def names_then(session: Session, users: Iterable[str]) -> NamesThen:
    """``NamesThen`` of ``users`` (empty names are left out)."""
    wanted = {u for u in users if u}
    return NamesThen(user_store.full_names(session, wanted), org_store.name_changes(session, wanted))


def correction_users(corrections: Mapping[str, list[dict]]) -> set[str]:
    """Who made the corrections (``STEP.FIELD`` -> its corrections), for ``names_then``."""
    return {c["by"] for items in corrections.values() for c in items if c.get("by")}


def correctors_named(session: Session, corrections: Mapping[str, list[dict]],
                     names: NamesThen | None = None) -> dict[str, list[dict]]:
    """Each correction (``STEP.FIELD`` -> its corrections) with ``by_name``: the corrector's
    name when they made it, as an auditor reads the record. The name their signature
    recorded (更正), else the full name the chart's trail says they had then
    (``NamesThen.at``), else their user name; ``by`` keeps the user id to show beside it.
    ``names``: already read for the page (holding the correctors), else read here."""
    if names is None:
        names = names_then(session, correction_users(corrections))
    out = {}
    for key, items in corrections.items():
        named = []
        for c in items:
            by = c.get("by") or ""
            signed = (c.get("signature") or {}).get("name") if isinstance(c.get("signature"), Mapping) else None
            named.append({**c, "by_name": signed or names.at(by, c.get("at"))})
        out[key] = named
    return out


def _aware(at: object) -> datetime | None:
    """``at`` (ISO text or a datetime) as an aware UTC time (``audit.parse_time``), or None
    when it reads as no time."""
    try:
        return parse_time(at) if isinstance(at, str | datetime) else None
    except ValueError:
        return None
