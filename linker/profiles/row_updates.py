"""Many rows, each with values of its own, written in one statement.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` per row and field, and compiling
those expressions costs ~1.5 ms per row for the outbox's eleven fields: more than the call to
Copernica it records. On PostgreSQL :func:`rows_update` sends ``UPDATE … FROM (VALUES …)``
instead (a few µs per row to build); elsewhere (the embedded SQLite) it is ``bulk_update``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model


def rows_update(rows: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of each of ``rows`` (of one model, saved before) as they are in memory."""
    if not rows:
        return
    model = type(rows[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(rows, fields)
        return
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns: list[Field[object, object]] = [pk]
    for name in fields:
        column = meta.get_field(name)
        assert isinstance(column, Field)
        columns.append(column)
    quote = connection.ops.quote_name
    # Each value cast to its column's type: a NULL or a JSON document is otherwise untyped.
    row_sql = "(" + ", ".join(f"%s::{column.cast_db_type(connection)}" for column in columns) + ")"
    params = [
        column.get_db_prep_save(getattr(row, column.attname), connection)
        for row in rows
        for column in columns
    ]
    quoted = [quote(str(column.column)) for column in columns]
    names = ", ".join(quoted)
    assignments = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - model's names
        f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v({names}) "
        f"WHERE t.{quoted[0]} = v.{quoted[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
