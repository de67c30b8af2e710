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

from sqlalchemy import Insert, bindparam, insert
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import ClauseElement

Params = Mapping[str, Any]

# The most rows sent as one multi-row INSERT (more: one execution each); a bound on the
# statements cached per row count and far below PostgreSQL's 65,535 parameters.
MULTIROW_MAX = 32


class Prepared:
    """One Core statement (or ``{dialect name: statement}`` where the SQL differs, as for
    INSERT ... ON CONFLICT); ``column_keys`` fixes the SET/VALUES columns of DML statements."""

    def __init__(self, statement: ClauseElement | Mapping[str, ClauseElement],
                 column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._by_dialect: dict[tuple[str, str], tuple[str, list[tuple[str, Any]] | None, dict, dict, list]] = {}
        # A plain INSERT of these columns can send several rows as one multi-row VALUES
        # (``multirow``); n -> that statement.
        self._plain_insert = (isinstance(statement, Insert) and self.column_keys is not None
                              and not statement._post_values_clause and not statement._returning
                              and statement.select is None and not statement._multi_values
                              and not statement._values)
        self._multi: dict[int, Prepared] = {}

    def multirow(self, params: Sequence[Params]) -> tuple[Prepared, list[Params]] | None:
        """This INSERT as one statement with ``len(params)`` rows of VALUES and its one set
        of parameters, or None when it is not a plain INSERT or the rows are too many (the
        caller then sends one execution per row). Each execution costs the PostgreSQL driver
        about 50 µs however small the row."""
        n = len(params)
        if not self._plain_insert or not 2 <= n <= MULTIROW_MAX:
            return None
        keys = self.column_keys or []
        found = self._multi.get(n)
        if found is None:
            assert isinstance(self.statement, Insert)
            table = self.statement.table
            rows = [{k: bindparam(f"{k}__{i}", type_=table.c[k].type) for k in keys} for i in range(n)]
            found = self._multi[n] = Prepared(insert(table).values(rows))
        return found, [{f"{k}__{i}": p[k] for i, p in enumerate(params) for k in keys}]

    def _compiled(self, dialect: Dialect) -> tuple[str, list[tuple[str, Any]] | None, dict, dict, list]:
        key = (dialect.name, dialect.driver)
        found = self._by_dialect.get(key)
        if found is None:
            stmt = (self.statement[dialect.name] if isinstance(self.statement, Mapping)
                    else self.statement)
            compiled = stmt.compile(dialect=dialect, column_keys=self.column_keys)
            _refuse_unsupported(compiled)
            positional = list(compiled.positiontup) if compiled.positional else None
            # Values written into the statement (literals, LIMIT) become binds too.
            fixed = {name: bind.effective_value for name, bind in compiled.binds.items()
                     if not bind.required}
            results = [(i, f) for i, col in enumerate(compiled._result_columns)
                       if (f := col.type._cached_result_processor(dialect, None)) is not None]
            processors = dict(compiled._bind_processors)
            # Positional drivers (sqlite3): each parameter's name and processor in order.
            plan = [(name, processors.get(name)) for name in positional] if positional is not None else None
            found = (compiled.string, plan, processors, fixed, results)
            self._by_dialect[key] = found
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
        sql, plan, processors, fixed, _ = self._compiled(dialect)
        rows: list[Any] = []
        for p in params:
            if fixed:
                p = {**fixed, **p}
            if plan is not None:  # only the parameters the statement takes, in its order
                rows.append([v if f is None else f(v) for k, f in plan for v in (p[k],)])
            else:
                rows.append({k: (v if (f := processors.get(k)) is None else f(v)) for k, v in p.items()})
        return sql, rows


def _refuse_unsupported(compiled: Any) -> None:
    """Statement features that need SQLAlchemy's execution context (Python-side defaults,
    expanding IN lists, literal binds, escaped names) are refused when the statement is
    first compiled rather than run wrong."""
    features = {
        "a Python-side column default (list the column in column_keys)":
            compiled.insert_prefetch or compiled.update_prefetch or getattr(compiled, "postfetch", None),
        "an expanding IN list": compiled.post_compile_params,
        "a literal_execute bind": compiled.literal_execute_params,
        "an escaped bind name": compiled.escaped_bind_names,
        "a tuple bind": any(isinstance(f, tuple | list)
                            for f in compiled._bind_processors.values()),
    }
    found = [name for name, present in features.items() if present]
    if found:
        raise ValueError(f"Prepared cannot run a statement with {', '.join(found)}: "
                         f"{compiled.string[:120]}")


def _pipeline(raw: Any) -> Any:
    """psycopg's pipeline mode where libpq supports it, else None (one round trip each)."""
    pipeline = getattr(raw, "pipeline", None)
    if pipeline is None:
        return None
    from psycopg import Pipeline

    return pipeline if Pipeline.is_supported() else None


def batch(session: Session, calls: Sequence[tuple[Prepared, Sequence[Params]]]) -> list[Any]:
    """Run each statement with its rows (several rows: executemany), in order, in one
    round trip where the driver pipelines. Returns one result per call: the rows (see
    ``Prepared.rows``) of statements that return rows, else the row count.

    The statements bypass the ORM: nothing is autoflushed first, and objects the session
    holds are not refreshed (flush before, and load afresh after, where that matters).
    """
    connection = session.connection()  # begins the session's transaction if needed
    dialect = connection.dialect
    raw = connection.connection.dbapi_connection
    pipeline = _pipeline(raw)
    cursors = []
    results: list[Any] = []
    sql = ""

    def result(prepared: Prepared, cursor: Any) -> Any:
        if cursor.description is None:
            return cursor.rowcount
        return prepared.rows(dialect, cursor.fetchall())

    try:
        try:
            with pipeline() if pipeline is not None else nullcontext():
                for prepared, params in calls:
                    if pipeline is not None and (multi := prepared.multirow(params)) is not None:
                        prepared, params = multi
                    sql, rows = prepared.bound(dialect, params)
                    cursor = raw.cursor()
                    cursors.append(cursor)
                    if len(rows) == 1:
                        cursor.execute(sql, rows[0])
                    else:
                        cursor.executemany(sql, rows)
                    if pipeline is None:  # read now: a later statement may change the rows
                        results.append(result(prepared, cursor))
            if pipeline is not None:
                results = [result(prepared, c) for (prepared, _), c in zip(calls, cursors, strict=True)]
            return results
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error,
                                      dialect=dialect) from exc
    finally:
        for cursor in cursors:
            cursor.close()
