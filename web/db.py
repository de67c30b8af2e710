"""The request's way to the application layer: the process's ``Services`` and its
transactions (``engine.app.database``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.app.service import VerifiedPassword, Workflow
    from engine.app.services import Services


def init_app(app: Flask) -> None:
    """Kept for the registration order in ``create_app``; the services are opened there."""


def services() -> Services:
    return current_app.extensions["services"]


def workflow() -> Workflow:
    return current_app.extensions["services"].workflow


@contextmanager
def transaction() -> Iterator[Session]:
    with services().database.writing() as session:
        yield session


@contextmanager
def reading() -> Iterator[Session]:
    with services().database.reading() as session:
        yield session


def signature_password(username: str, password: str | None) -> VerifiedPassword | None:
    """A signature password checked before the write transaction (see
    ``Workflow.verify_password``); None when none was given."""
    if password is None:
        return None
    with reading() as session:
        return workflow().verify_password(session, username, password)
