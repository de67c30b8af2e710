"""A ledger filtered by a date-time column (到达时间 in a year) with more matching records than
the database takes parameters in one statement: the instances the filter matched went into
the ledger's query as one parameter each, and SQLite (32,766 parameters by default) refused
a year of a busy service desk with "too many SQL variables", the page and the export alike.
Here SQLite's limit is lowered to 100 (``setlimit``) and 150 records match; the page and the
export read them all. Real SQLite (and PostgreSQL, without the lowered limit)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event

from engine.app import ledgers
from engine.app.ledgers import LedgerFilters
from tests.app.test_ledger_local_days import PID, QUALITY, services  # noqa: F401  (the fixture)

MATCHING = 150
LIMIT = 100  # above one ledger page (50 rows) and its cells' statement, below the matches


@pytest.fixture
def many(services, sessions):  # noqa: F811
    wf = services.workflow
    with sessions.begin() as s:
        for n in range(MATCHING):
            wf.start(s, PID, "q1", {"ref": f"M-{n}", "arrived_at": f"2025-03-{1 + n % 28:02d}T09:00:00+08:00"})
    engine = services.database.engine
    if engine.dialect.name == "sqlite":
        def lower(dbapi_connection, _record):
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, LIMIT)

        event.listen(engine, "connect", lower)
        engine.dispose()  # the pooled connections were opened without the limit
    return services


def test_a_date_time_filter_matching_more_records_than_parameters_reads_them_all(many):
    found: set[str] = set()
    page, more = 1, True
    while more:
        result = ledgers.ledger_page(many, QUALITY, PID, LedgerFilters(columns={"start.arrived_at": "2025"}),
                                     page=page)
        found |= {r["cells"]["start.ref"] for r in result.rows}
        page, more = page + 1, result.more
    assert found == {f"M-{n}" for n in range(MATCHING)}


def test_the_export_of_such_a_filter_reads_them_all(many):
    export = ledgers.export_ledger(many, QUALITY, PID, LedgerFilters(columns={"start.arrived_at": "2025-03"}))
    refs = {row[0] for row in export.rows}
    assert refs == {f"M-{n}" for n in range(MATCHING)}
