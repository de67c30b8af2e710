"""Fixtures of the command-line tests: a PostgreSQL role of the test's own, for commands run
as a user with fewer rights than the superuser the suite connects as."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# What the production guide gives the server's role (docs/operations.md, "the server's role
# owns nothing"): rows, not the schema.
SERVER_ROLE = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "REVOKE UPDATE, DELETE, TRUNCATE ON events FROM {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
)


@pytest.fixture
def pg_role(db_url: str) -> Iterator[Callable[..., str]]:
    """``pg_role(server=True)``: a new login role (no CREATEDB, owns nothing) with the
    rights the production guide gives the server's role, or ``pg_role(*grants)`` with these
    (SQL run as the superuser in the test's database, ``{role}`` replaced by its name); the
    URL of the test's database as that role. The role is dropped with its grants afterwards."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("database roles are PostgreSQL's")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(*grants: str, server: bool = False) -> str:
        role = f"wf_h12_{secrets.token_hex(5)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOCREATEDB NOSUPERUSER'))
            made.append(role)
            for grant in (*SERVER_ROLE, *grants) if server else grants:
                conn.execute(text(grant.format(role=f'"{role}"')))
        return url.set(username=role, password=None).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for role in made:
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role})
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()

