"""Many rows, each with values of its own, written in one statement.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` per row and field, and compiling
those expressions costs ~1.5 ms per row for the outbox's eleven fields: more than the call to
Copernica it records (the outbox's changes and mirror rows, the webhook deliveries a batch of
attempts records). On PostgreSQL :func:`rows_update` sends the rows as one JSON document,
``UPDATE … FROM jsonb_to_recordset(%s)``: one short statement whatever the number of rows, which
psycopg parses once (a ``VALUES`` list of a batch's 100 changes was 1,200 parameters and 22 KB
of SQL, parsed again for every batch), and values encoded by orjson in one call rather than
prepared and quoted one by one (Django's ``get_db_prep_save`` and psycopg's array quoting were
three quarters of the statement's time). Elsewhere (the embedded SQLite) it is ``bulk_update``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
from django.db import connection
from django.db.models import Field, JSONField, Model


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
        # A JSON field's own encoder would be bypassed: none of ours has one.
        assert not (isinstance(column, JSONField) and column.encoder), column
        columns.append(column)
    quote = connection.ops.quote_name
    # Keyed by column name, as jsonb_to_recordset matches them; a JSON null is SQL NULL, also
    # for a jsonb column (as Django stores a JSON field's None).
    document = _dumps(
        [{str(column.column): getattr(row, column.attname) for column in columns} for row in rows]
    )
    quoted = [quote(str(column.column)) for column in columns]
    definitions = ", ".join(
        f"{name} {column.cast_db_type(connection)}"
        for name, column in zip(quoted, columns, strict=True)
    )
    assignments = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - model's names
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({definitions}) "
        f"WHERE t.{quoted[0]} = v.{quoted[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [document])


def _dumps(value: object) -> str:
    """JSON by orjson (aware times with their offset and microseconds, as PostgreSQL reads
    them); what it refuses (an integer beyond 64 bits, a lone surrogate) by the standard
    library."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=_isoformat)


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
