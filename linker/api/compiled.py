"""Queries the API runs on every request, compiled by the ORM once per process.

Building and compiling a queryset with nested subqueries (the access check of
``accounts.selectors``) took several times longer than PostgreSQL took to run it, on every
API request. A query here is built once by the very code that builds it each time otherwise,
with stand-in values of its parameters; the request's values then take the stand-ins' places in
the compiled parameters. Only the values change from request to request, never the SQL: a
query whose shape depends on more than its values is compiled per shape by its caller (the
``shape`` argument), and one whose stand-ins cannot all be found among its parameters is not
compiled at all (the caller builds it with the ORM as before).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models import QuerySet

M = TypeVar("M", bound=models.Model)

#: Stand-ins for a request's ids while a query is compiled: far outside any real id.
STAND_INS = tuple(-(2**62) + n for n in range(1, 9))


@dataclass(frozen=True)
class Compiled:
    """The SQL of a query and where each of a request's values goes in its parameters."""

    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the value)
    # Where the row's parts are, as the compiler laid them out: each model's columns (the
    # queried one, then those of select_related in its order) and each annotation's.
    model_columns: tuple[tuple[int, ...], ...]
    annotation_columns: dict[str, int]

    def first_row(self, *values: Any) -> tuple[Any, ...] | None:
        """The query's first row with ``values`` in the stand-ins' places."""
        params = list(self.params)
        for position, index in self.slots:
            params[position] = values[index]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            return cursor.fetchone()


@functools.cache
def compiled(
    build: Callable[..., QuerySet[Any]],
    count: int,
    shape: Hashable = None,
    unused: frozenset[int] = frozenset(),
) -> Compiled | None:
    """``build(*stand_ins, shape)``'s first row query, compiled: ``count`` values, each of
    which must appear among the parameters but those ``unused`` in this shape (``None``
    otherwise, or if the query matches nothing whatever the values)."""
    stand_ins = STAND_INS[:count]
    compiler = build(*stand_ins, shape)[:1].query.get_compiler(connection.alias)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return None
    klass = compiler.klass_info or {}
    related = [info["select_fields"] for info in klass.get("related_klass_infos", [])]
    index = {value: n for n, value in enumerate(stand_ins)}
    slots = tuple(
        (position, index[value])
        for position, value in enumerate(params)
        if type(value) is int and value in index
    )
    if {n for _, n in slots} != set(range(count)) - unused:
        return None
    return Compiled(
        sql=sql,
        params=tuple(params),
        slots=slots,
        model_columns=tuple(tuple(c) for c in [klass.get("select_fields", []), *related]),
        annotation_columns=dict(compiler.annotation_col_map or {}),
    )


def instances(query: Compiled, row: Sequence[Any], *model_classes: type[models.Model]) -> list[Any]:
    """The model instances in ``row`` of ``query`` (the queried model, then those of
    ``select_related`` in its order), converted as the ORM converts them (JSON fields)."""
    made = []
    for model, columns in zip(model_classes, query.model_columns, strict=True):
        fields = model._meta.concrete_fields
        values = [
            field.from_db_value(row[column], None, connection)
            if hasattr(field, "from_db_value")
            else row[column]
            for field, column in zip(fields, columns, strict=True)
        ]
        made.append(model.from_db(connection.alias, [f.attname for f in fields], values))
    return made
