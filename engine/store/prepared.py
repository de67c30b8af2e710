"""Statements of the hot path, compiled once per dialect and run on the DBAPI cursor.

A step writes five or six small statements. Through ``Connection.execute`` each costs
SQLAlchemy about 60 µs of bookkeeping (cache key, execution context, result wrapper), more
than SQLite needs to run it, so the step path compiles its statements once with SQLAlchemy
(same SQL, same type processors: JSON, UTC times, enums) and hands the SQL string and the
processed parameters straight to the driver, inside the session's own transaction.

``batch`` sends several statements in one round trip where the driver can pipeline them
(psycopg 3 against PostgreSQL): a step then waits for the server twice, not six times.
Driver errors are re-raised wrapped as SQLAlchemy's, as ``Connection.execute`` would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import ClauseElement

Params = Mapping[str, Any]


class Prepared:
    """One Core statement (or ``{dialect name: statement}`` where the SQL differs, as for
    INSERT ... ON CONFLICT); ``column_keys`` fixes the SET/VALUES columns of DML statements."""

    def __init__(self, statement: ClauseElement | Mapping[str, ClauseElement],
                 column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._by_dialect: dict[str, tuple[str, list[str] | None, dict, dict, list]] = {}

    def _compiled(self, dialect: Dialect) -> tuple[str, list[str] | None, dict, dict, list]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            stmt = (self.statement[dialect.name] if isinstance(self.statement, Mapping)
                    else self.statement)
            compiled = stmt.compile(dialect=dialect, column_keys=self.column_keys)
            positional = list(compiled.positiontup) if compiled.positional else None
            # Values written into the statement (literals, LIMIT) become binds too.
            fixed = {name: bind.effective_value for name, bind in compiled.binds.items()
                     if not bind.required}
            results = [(i, f) for i, col in enumerate(compiled._result_columns)
                       if (f := col.type._cached_result_processor(dialect, None)) is not None]
            found = (compiled.string, positional, dict(compiled._bind_processors), fixed,
                     results)
            self._by_dialect[dialect.name] = found
        return found

    def rows(self, dialect: Dialect, fetched: Sequence[Sequence[Any]]) -> list[tuple]:
        """Rows as the column types read them (JSON parsed, aware UTC times, booleans)."""
        processors = self._compiled(dialect)[4]
        out = []
        for row in fetched:
            row = list(row)
            for i, f in processors:
                row[i] = f(row[i])
            out.append(tuple(row))
        return out

    def bound(self, dialect: Dialect, params: Sequence[Params]) -> tuple[str, list[Any]]:
        """The dialect's SQL and the driver-ready parameters of each row."""
        sql, positional, processors, fixed, _ = self._compiled(dialect)
        rows = []
        for p in params:
            values = {k: (processors[k](v) if k in processors else v)
                      for k, v in ({**fixed, **p} if fixed else p).items()}
            rows.append([values[k] for k in positional] if positional is not None else values)
        return sql, rows


def batch(session: Session, calls: Sequence[tuple[Prepared, Sequence[Params]]]) -> list[Any]:
    """Run each statement with its rows (several rows: executemany), in order, in one
    round trip where the driver pipelines. Returns one result per call: the rows (see
    ``Prepared.rows``) of statements that return rows, else the row count."""
    connection = session.connection()  # begins the session's transaction if needed
    dialect = connection.dialect
    raw = connection.connection.dbapi_connection
    pipeline = getattr(raw, "pipeline", None)  # psycopg 3 only
    cursors = []
    sql = ""
    try:
        try:
            with pipeline() if pipeline is not None else nullcontext():
                for prepared, params in calls:
                    sql, rows = prepared.bound(dialect, params)
                    cursor = raw.cursor()
                    cursors.append(cursor)
                    if len(rows) == 1:
                        cursor.execute(sql, rows[0])
                    else:
                        cursor.executemany(sql, rows)
            return [prepared.rows(dialect, c.fetchall()) if c.description is not None
                    else c.rowcount for (prepared, _), c in zip(calls, cursors, strict=True)]
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error,
                                      dialect=dialect) from exc
    finally:
        for cursor in cursors:
            cursor.close()
