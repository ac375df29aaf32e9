"""A batch's reads and its outcome write: the pending events, the rows they name, each
event's result. One statement each on PostgreSQL (ids as array parameters, bound by the
server), the ORM elsewhere (the SQLite demo).

At a burst's size the ORM's share was most of a batch: building an ``IN`` list of a thousand
placeholders, decoding each event's JSON, one ``UPDATE`` per outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection
from django.db.models.fields.json import KT
from django.utils import timezone

from api_client import parse_timestamp
from linker.inbound.planning import Event, Held, Key
from linker.models import InboundEvent, InboundPending, RemoteProfile, RemoteSubprofile

State = InboundEvent.State

# The queue (``linker_inboundpending``, migration 0021) names the pending events in order;
# limited first, so that only a batch's events are joined.
_PENDING_SQL = """
SELECT e.id, e.kind, e.action, e.copernica_id, e.profile_copernica_id,
       e.database_copernica_id, e.collection_copernica_id, e.modified,
       CASE WHEN e.modified IS NULL THEN e.payload->>'modified' END
FROM (
    SELECT event_id FROM linker_inboundpending
    WHERE link_id = %s ORDER BY event_id LIMIT %s
) AS q
JOIN linker_inboundevent e ON e.id = q.event_id
ORDER BY q.event_id
"""

_HELD_PROFILES_SQL = """
SELECT database_id, copernica_id, modified, removed_at IS NOT NULL, 0
FROM linker_remoteprofile
WHERE database_id = ANY(%s) AND copernica_id = ANY(%s)
"""

_HELD_SUBPROFILES_SQL = """
SELECT collection_id, copernica_id, modified, removed_at IS NOT NULL, profile_copernica_id
FROM linker_remotesubprofile
WHERE collection_id = ANY(%s) AND copernica_id = ANY(%s)
"""

# Out of the queue and finished in one statement; no indexed column changes (a HOT update).
# Each event names its outcome by number among the batch's few distinct (state, note) pairs:
# psycopg dumps a list of strings element by element in Python (~8 ms for 5,000), and the
# numbers go as one array literal (``id_array``).
_FINISH_SQL = """
WITH done AS (
    DELETE FROM linker_inboundpending WHERE event_id = ANY(%s::bigint[])
)
UPDATE linker_inboundevent AS e SET state = o.state, note = o.note, applied_at = %s
FROM unnest(%s::bigint[], %s::bigint[]) AS x(id, outcome)
JOIN unnest(%s::text[], %s::text[]) WITH ORDINALITY AS o(state, note, outcome)
    ON o.outcome = x.outcome
WHERE e.id = x.id
"""


def set_based() -> bool:
    """Whether batches are read and written with the PostgreSQL statements here and in
    :mod:`linker.inbound.mirror_writes` (otherwise through the ORM)."""
    return connection.vendor == "postgresql"


# psycopg's own timestamptz loader (C, in psycopg[binary]). Django registers a subclass of the
# pure-Python one on its connections to set the zone; it cost ~20 us a value, most of reading
# a burst's pending events. This one gives the same instants in the session's zone (UTC):
# aware datetimes, which the planning only compares (by instant, whatever the zone object).
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(
    psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT
)


@contextmanager
def server_bound_cursor() -> Iterator[Any]:
    """A psycopg cursor whose parameters the server binds: a thousand ids go as one array
    value, not as SQL text quoted on the client (Django's own cursors bind on the client)."""
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with psycopg.Cursor(raw) as cursor:
        if _TIMESTAMPTZ_LOADER is not None:
            cursor.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)
        yield cursor


def id_array(values: Iterable[int]) -> str:
    """Integers as a PostgreSQL array literal, for a ``%s::bigint[]`` parameter: psycopg
    dumps a list element by element in Python, a string as it is."""
    return "{" + ",".join(str(int(value)) for value in values) + "}"


def commit_unflushed() -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    Only a crash of PostgreSQL itself can lose such a commit, and with it a whole batch: the
    mirror's writes and the events' outcomes together, so the events are pending again and
    applied again. Each batch's commit waited for the disk otherwise (a tenth of a burst).
    """
    if set_based():
        with server_bound_cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")


def _event(row: tuple[Any, ...]) -> Event:
    pk, kind, action, cid, profile, database, collection, modified, stated = row
    if modified is None and action != "delete":
        # Only events stored by other means than the receiver lack the column.
        modified = parse_timestamp(stated)
    place = collection if kind == "subprofile" else database
    return Event(pk, kind, action, cid, profile, place, modified)


def pending_events(*, link_id: int, limit: int) -> list[Event]:
    """The link's first ``limit`` pending events, in arrival order."""
    if set_based():
        with server_bound_cursor() as cursor:
            cursor.execute(_PENDING_SQL, [link_id, limit])
            return [_event(row) for row in cursor.fetchall()]
    rows = (
        InboundEvent.objects.filter(pending__link_id=link_id)
        .order_by("pending__event_id")
        .values_list(
            "pk",
            "kind",
            "action",
            "copernica_id",
            "profile_copernica_id",
            "database_copernica_id",
            "collection_copernica_id",
            "modified",
            KT("payload__modified"),
        )[:limit]
    )
    return [_event(row) for row in rows]


def held_rows(*, kind: str, parents: list[int], ids: list[int]) -> dict[Key, Held]:
    """The mirror's rows among ``ids`` under ``parents``: ``modified``, removed, profile."""
    if not parents or not ids:
        return {}
    if set_based():
        with server_bound_cursor() as cursor:
            cursor.execute(
                _HELD_SUBPROFILES_SQL if kind == "subprofile" else _HELD_PROFILES_SQL,
                [id_array(parents), id_array(ids)],
            )
            rows = cursor.fetchall()
    elif kind == "subprofile":
        rows = [
            (parent, cid, modified, removed_at is not None, profile)
            for parent, cid, modified, removed_at, profile in RemoteSubprofile.objects.filter(
                collection_id__in=parents, copernica_id__in=ids
            ).values_list(
                "collection_id", "copernica_id", "modified", "removed_at", "profile_copernica_id"
            )
        ]
    else:
        rows = [
            (parent, cid, modified, removed_at is not None, 0)
            for parent, cid, modified, removed_at in RemoteProfile.objects.filter(
                database_id__in=parents, copernica_id__in=ids
            ).values_list("database_id", "copernica_id", "modified", "removed_at")
        ]
    return {
        (parent, cid): Held(modified, bool(removed), profile or 0)
        for parent, cid, modified, removed, profile in rows
    }


def events_finish(outcomes: list[tuple[int, str, str]]) -> None:
    """Record each event's (pk, state, note)."""
    if not outcomes:
        return
    now = timezone.now()
    ids = id_array(pk for pk, _, _ in outcomes)
    if set_based():
        numbers: dict[tuple[str, str], int] = {}  # (state, note) → its 1-based number
        chosen = id_array(
            numbers.setdefault((str(state), note), len(numbers) + 1) for _, state, note in outcomes
        )
        with server_bound_cursor() as cursor:
            cursor.execute(
                _FINISH_SQL,
                [ids, now, ids, chosen, [s for s, _ in numbers], [n for _, n in numbers]],
            )
        return
    grouped: dict[tuple[str, str], list[int]] = {}
    for pk, state, note in outcomes:
        grouped.setdefault((state, note), []).append(pk)
    InboundPending.objects.filter(pk__in=[pk for pk, _, _ in outcomes]).delete()
    for (state, note), pks in grouped.items():
        InboundEvent.objects.filter(pk__in=pks).update(state=state, note=note, applied_at=now)
