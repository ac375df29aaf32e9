"""Filling the mirror's ``search_text``, the text the browser's trigram index reads (issue 16).

The sync writes profiles without it (a trigram index maintained row by row made its COPY ten
times slower than the keys alone), and a trigger resets it whenever a profile's ``fields``
change (migration 0018). This fill writes it afterwards, in batches of a link's unfilled rows
found by the index ``(link_id, search_text IS NULL, id)``: after a sync run ends and after
an inbound batch wrote rows (each enqueues :data:`Task.PROFILE_SEARCH_FILL`); a row the
write-back edited waits for the link's next run. The search never waits for it: unfilled rows
are searched by scanning them (:mod:`linker.profiles.search`).

Idempotent and resumable: what is left to do is the NULL rows themselves, so a fill that is
interrupted, runs twice at once (``SKIP LOCKED``: each takes other rows) or runs with nothing
to do only costs its own queries. A row a sync holds locked is skipped; the sync's own run-end
hook enqueues the next fill. On SQLite (the demo) there is no trigram index to serve: nothing
is filled.
"""

from __future__ import annotations

import time

from django.db import connection

from linker.models import RemoteProfile
from linker.platform.delivery import LOW_PRIORITY, Task, enqueue
from linker.profiles.search import SEARCH_TEXT_SQL

#: Rows written per statement (each its own short transaction, so a sync's writes to the same
#: link wait for one batch at most).
FILL_BATCH = 2_000
#: A task fills for about this long, then hands the rest to a new task, so the sync queue's
#: other work gets its turn.
FILL_SECONDS = 20.0

_TABLE = RemoteProfile._meta.db_table
# The batch walks the index (link_id, search_text IS NULL, id) from ``id > %s``; the outer
# ``search_text IS NULL`` holds should a concurrent fill have written a row between the two.
_FILL_SQL = f"""
WITH todo AS MATERIALIZED (
    SELECT id FROM {_TABLE}
    WHERE link_id = %s AND search_text IS NULL AND id > %s
    ORDER BY id
    LIMIT %s
    FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE {_TABLE} AS p SET search_text = {SEARCH_TEXT_SQL.format(column="p.fields")}
    FROM todo
    WHERE p.id = todo.id AND p.search_text IS NULL
    RETURNING p.id
)
SELECT (SELECT count(*) FROM todo), (SELECT max(id) FROM todo), (SELECT count(*) FROM done)
"""  # noqa: S608 - the table's name and a constant expression: no input reaches the SQL


def search_fill_soon(*, link_id: int) -> None:
    """Fill ``link_id``'s unfilled search texts once the caller's transaction commits."""
    if connection.vendor == "postgresql":
        enqueue(Task.PROFILE_SEARCH_FILL, link_id, priority=LOW_PRIORITY)


def search_fill(
    *, link_id: int, batch: int = FILL_BATCH, seconds: float = FILL_SECONDS
) -> tuple[int, bool]:
    """Fill ``link_id``'s unfilled search texts for at most about ``seconds``; returns how many
    rows were filled and whether the link's rows were all walked (``False``: time ran out)."""
    if connection.vendor != "postgresql":
        return 0, True
    deadline = time.monotonic() + seconds
    filled, after = 0, 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(_FILL_SQL, [link_id, after, batch])
            taken, last, written = cursor.fetchone()
        filled += written
        if taken < batch:
            return filled, True
        after = last
        if time.monotonic() >= deadline:
            return filled, False


def search_fill_run(*, link_id: int) -> int:
    """The task's work: fill for a while, and enqueue the rest as a new task."""
    filled, complete = search_fill(link_id=link_id, batch=FILL_BATCH, seconds=FILL_SECONDS)
    if not complete:
        search_fill_soon(link_id=link_id)
    return filled
