"""People: who is signed in, passwords, lock-out after failed sign-ins, the UI language.

``LOCK_AFTER`` failed sign-ins for one user name (from one address, for the web's door)
within ``WINDOW`` lock that door for ``WINDOW``. The count is kept in the database
(``engine/store/sign_in.py``), so it holds across server processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from engine.i18n import LOCALES
from engine.store import sign_in
from engine.store import users as user_store

if TYPE_CHECKING:
    from engine.app.services import Services

LOCK_AFTER = 5
WINDOW = 15 * 60  # seconds


@dataclass(frozen=True)
class Person:
    """A signed-in user as pages and the API need them (no database session attached)."""

    username: str
    full_name: str
    locale: str | None
    groups: tuple[str, ...]

    @property
    def display(self) -> str:
        return self.full_name or self.username


def active_person(services: Services, username: str) -> Person | None:
    """The user if they exist and are active (a deactivated user is signed out)."""
    with services.database.reading() as s:
        user = user_store.get_user(s, username)
        if user is None or not user.active:
            return None
        return Person(user.username, user.full_name or "", user.locale,
                      tuple(user_store.groups_of(user)))


def authenticate(services: Services, username: str, password: str) -> str | None:
    """The user name when the password is right for an active user, else None."""
    with services.database.reading() as s:
        user = user_store.check_password(s, username, password)
        return user.username if user is not None else None


def set_locale(services: Services, username: str, locale: str) -> None:
    if locale not in LOCALES:
        raise ValueError(locale)
    with services.database.writing() as s:
        user = user_store.get_user(s, username)
        if user is not None:
            user.locale = locale


class Door:
    """Lock-out after failed sign-ins at one door: ``web`` counts per user name and address,
    ``api`` per user name."""

    def __init__(self, services: Services, kind: str, limit: int = LOCK_AFTER,
                 window: float = WINDOW) -> None:
        self.services = services
        self.kind = kind
        self.limit = limit
        self.window = timedelta(seconds=window)

    def _key(self, username: str, address: str | None) -> str:
        name = username.strip().lower()
        return f"{self.kind}:{name}" if address is None else f"{self.kind}:{name}|{address}"

    def locked_until(self, username: str, address: str | None = None) -> datetime | None:
        """When the user name (from that address) may try again, or None if not locked."""
        with self.services.database.reading() as s:
            return sign_in.locked_until(s, self._key(username, address), datetime.now(UTC),
                                        limit=self.limit, window=self.window)

    def fail(self, username: str, address: str | None = None) -> datetime | None:
        """Count a failure; returns the end of the lock-out it started, if it did."""
        now = datetime.now(UTC)
        with self.services.database.writing() as s:
            count = sign_in.failed(s, self._key(username, address), now, window=self.window)
        return now + self.window if count >= self.limit else None

    def succeed(self, username: str, address: str | None = None) -> None:
        key = self._key(username, address)
        with self.services.database.reading() as s:
            counted = sign_in.counted(s, key)
        if counted:
            with self.services.database.writing() as s:
                sign_in.succeeded(s, key)

    def sign_in(self, username: str, password: str, address: str | None = None) -> SignIn:
        """Check the password unless the door is locked; count the outcome."""
        until = self.locked_until(username, address)
        if until is not None:
            return SignIn(None, until, locked_before=True)
        name = authenticate(self.services, username, password)
        if name is None:
            return SignIn(None, self.fail(username, address))
        self.succeed(username, address)
        return SignIn(name)


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt: the user name, or when the door opens again (locked by
    this attempt or, with ``locked_before``, already locked: the password was not checked)."""

    username: str | None
    locked_until: datetime | None = None
    locked_before: bool = False
