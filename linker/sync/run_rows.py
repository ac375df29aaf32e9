"""The SQL of a run's own row that the engine writes on its hot path: the checkpoint's UPDATE
after every page, and the mirror's count a full run ends with."""

from __future__ import annotations

import functools
from typing import Any

from django.db.models import Count, F, IntegerField, Subquery
from django.db.models.functions import Coalesce

from linker.models import RemoteProfile, SyncRun


@functools.lru_cache(maxsize=64)
def commit_statement(counters: tuple[str, ...], progress: bool) -> str:
    """The UPDATE of :meth:`linker.sync.engine.Engine.commit` for these counters (names of
    ``SyncRun`` fields)."""
    table = SyncRun._meta.db_table
    fields = {field.name: field.column for field in SyncRun._meta.concrete_fields}
    columns = [fields[name] for name in counters]
    assignments = [
        "checkpoint = %s::jsonb",
        "heartbeat_at = %s",
        "requests = requests + %s",
        *(f"{column} = {column} + %s" for column in columns),
        *(["failures = 0"] if progress else []),
    ]
    return (
        f"UPDATE {table} SET {', '.join(assignments)} "  # noqa: S608 - field names only
        "WHERE id = %s AND claim = %s AND state = %s"
    )


def local_count_counted(*, link_id: int) -> Any:
    """The run's ``local_count`` at a full run's end: the one its reconcile phase counted, or
    else the mirror's live profiles counted now (in the run's UPDATE)."""
    return Coalesce(
        F("local_count"),
        Subquery(
            RemoteProfile.objects.filter(link_id=link_id, removed_at=None)
            .order_by()
            .values("link_id")
            .annotate(n=Count("pk"))
            .values("n")
        ),
        0,
        output_field=IntegerField(),
    )
