"""A throw-away PostgreSQL schema for a benchmark run (shared by the bench scripts)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine import store


def pg_schema_url(base: str) -> tuple[str | None, Callable[[], None]]:
    """A fresh schema on ``base`` (or None if PostgreSQL is unreachable) and its cleanup."""
    try:
        admin = store.make_engine(base)
        schema = f"bench_{secrets.token_hex(4)}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "skip PostgreSQL"
        print(f"PostgreSQL at {base}: not reachable ({type(exc).__name__}); skipped")
        return None, lambda: None
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop
