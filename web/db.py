"""The request's way to the application layer: the process's ``Services``, opened once by
``create_app``. Views pass it to the use cases of ``engine.app``; they open no sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from engine.app.services import Services


def init_app(app: Flask) -> None:
    """Kept for the registration order in ``create_app``; the services are opened there."""


def services() -> Services:
    return current_app.extensions["services"]
