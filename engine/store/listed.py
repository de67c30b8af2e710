""""A column is one of these values" for a list of any length: the list goes to the database
as ONE parameter (JSON text), not one parameter per value, which SQLite refuses beyond
32,766 (``SQLITE_LIMIT_VARIABLE_NUMBER``) and PostgreSQL's protocol beyond 65,535."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, String, any_, bindparam, cast, func, select


def sqlite_one_of(column: Any, values: Any) -> Any:
    """``column`` is one of the JSON list ``values`` (a parameter or text), or one of what
    the ``Select`` ``values`` reads."""
    if not isinstance(values, Select):
        values = select(func.json_each(values).table_valued("value").c.value)
    return column.in_(values)


def postgresql_one_of(column: Any, values: Any) -> Any:
    """As ``sqlite_one_of``, on PostgreSQL."""
    # column = ANY (array read first): PostgreSQL looks each value up by index. As IN
    # (subquery), or joined to the JSON list, it guesses 100 values (it cannot know) and
    # reads every row instead.
    from sqlalchemy.dialects.postgresql import ARRAY, JSONB

    if not isinstance(values, Select):
        values = select(func.jsonb_array_elements_text(cast(values, JSONB)).table_valued("value").c.value)
    listed = values.subquery()
    found = select(func.array_agg(next(iter(listed.c)))).scalar_subquery()
    return column == any_(cast(found, ARRAY(column.type)))


def one_of(dialect: str, column: Any, values: Iterable[str]) -> Any:
    """``column`` is one of ``values``, on the database of ``dialect`` (its name)."""
    # Typed as text: bound as JSONB (the cast's type), psycopg would send the JSON text as
    # one JSON string.
    listed = bindparam(None, json.dumps(list(values)), type_=String)
    return (postgresql_one_of if dialect == "postgresql" else sqlite_one_of)(column, listed)
