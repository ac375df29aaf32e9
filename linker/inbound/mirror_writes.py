"""Writing a batch's plan into the mirror: set-based on PostgreSQL, row by row elsewhere.

On PostgreSQL the contents never pass through Python: one ``INSERT ... SELECT`` per side takes
the fields, interests and timestamps straight from the inbox rows' ``payload`` (the few
fetched documents join them as array parameters) and upserts them with the ordering guards in
its ``WHERE``: a removed row stays removed, an older ``modified`` changes nothing, and
unchanged contents rewrite no row. The guards are the database's, so a sync writing the same
rows meanwhile is never overwritten with something older. Timestamps are read by
``linker_copernica_time`` (migration 0015: ``parse_timestamp`` in SQL). The other databases
(the SQLite demo) load the payloads and compare in Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import F
from django.db.models.functions import Greatest

from api_client import parse_timestamp
from linker.inbound import batch_reads
from linker.inbound.batch_reads import id_array, server_bound_cursor
from linker.inbound.planning import Key, Side, Upsert
from linker.models import InboundEvent, Link, RemoteProfile, RemoteSubprofile

State = InboundEvent.State

# An event's contents are its variables as the receiver parsed them: ``fields`` an object of
# ``fields[name]`` values, ``interests`` a list of ``interests[]`` values; anything else counts
# as none. ``modified`` and ``created`` are the inbox columns (the receiver's readings of the
# variables; ``linker_copernica_time`` costs ~7 us a row, most of the SELECT) and only events
# stored without them are read here. Literal SQL, the tables' names included: nothing in it
# comes from data.
_PROFILES_SQL = """
WITH incoming AS (
    SELECT x.parent_id, e.copernica_id,
           CASE jsonb_typeof(e.payload->'fields') WHEN 'object' THEN e.payload->'fields'
                ELSE '{}'::jsonb END AS fields,
           CASE jsonb_typeof(e.payload->'interests') WHEN 'array' THEN e.payload->'interests'
                ELSE '[]'::jsonb END AS interests,
           COALESCE(e.created, linker_copernica_time(e.payload->>'created')) AS created,
           COALESCE(e.modified, linker_copernica_time(e.payload->>'modified')) AS modified
    FROM unnest(%s::bigint[], %s::bigint[]) AS x(event_id, parent_id)
    JOIN linker_inboundevent e ON e.id = x.event_id
    UNION ALL
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::jsonb[], %s::jsonb[],
                         %s::timestamptz[], %s::timestamptz[])
)
INSERT INTO linker_remoteprofile AS p
    (link_id, database_id, copernica_id, fields, interests, created, modified)
SELECT %s, parent_id, copernica_id, fields, interests, created, modified FROM incoming
ON CONFLICT (database_id, copernica_id) DO UPDATE SET
    fields = EXCLUDED.fields,
    interests = EXCLUDED.interests,
    created = COALESCE(EXCLUDED.created, p.created),
    modified = EXCLUDED.modified
WHERE p.removed_at IS NULL
    AND (p.modified IS NULL OR EXCLUDED.modified >= p.modified)
    AND (p.fields, p.interests, p.modified)
        IS DISTINCT FROM (EXCLUDED.fields, EXCLUDED.interests, EXCLUDED.modified)
RETURNING p.database_id, p.copernica_id, (p.xmax = 0) AS inserted
"""

_SUBPROFILES_SQL = """
WITH incoming AS (
    SELECT x.parent_id, e.copernica_id, COALESCE(e.profile_copernica_id, 0) AS profile_id,
           CASE jsonb_typeof(e.payload->'fields') WHEN 'object' THEN e.payload->'fields'
                ELSE '{}'::jsonb END AS fields,
           COALESCE(e.created, linker_copernica_time(e.payload->>'created')) AS created,
           COALESCE(e.modified, linker_copernica_time(e.payload->>'modified')) AS modified
    FROM unnest(%s::bigint[], %s::bigint[]) AS x(event_id, parent_id)
    JOIN linker_inboundevent e ON e.id = x.event_id
    UNION ALL
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::jsonb[],
                         %s::timestamptz[], %s::timestamptz[])
)
INSERT INTO linker_remotesubprofile AS p
    (link_id, collection_id, copernica_id, profile_copernica_id, fields, created, modified)
SELECT %s, parent_id, copernica_id, profile_id, fields, created, modified FROM incoming
ON CONFLICT (collection_id, copernica_id) DO UPDATE SET
    profile_copernica_id = EXCLUDED.profile_copernica_id,
    fields = EXCLUDED.fields,
    created = COALESCE(EXCLUDED.created, p.created),
    modified = EXCLUDED.modified
WHERE p.removed_at IS NULL
    AND (p.modified IS NULL OR EXCLUDED.modified >= p.modified)
    AND (p.profile_copernica_id, p.fields, p.modified)
        IS DISTINCT FROM (EXCLUDED.profile_copernica_id, EXCLUDED.fields, EXCLUDED.modified)
RETURNING p.collection_id, p.copernica_id, (p.xmax = 0) AS inserted
"""


def document_fields(document: dict[str, Any]) -> dict[str, Any]:
    fields = document.get("fields")
    return dict(fields) if isinstance(fields, dict) else {}


def document_interests(document: dict[str, Any]) -> list[str]:
    interests = document.get("interests")
    if isinstance(interests, list):
        return [str(item) for item in interests]
    if isinstance(interests, dict):  # a REST read may show them as name → 0/1
        return [str(name) for name, on in interests.items() if str(on) == "1"]
    return []


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _upsert_postgres(*, link_id: int, side: Side) -> set[Key]:
    from_events = [(key, u.event_pk) for key, u in side.upserts.items() if u.document is None]
    fetched = [(key, u) for key, u in side.upserts.items() if u.document is not None]
    documents = [u.document or {} for _, u in fetched]
    profiles = side.kind == "profile"
    columns: list[Any] = [[key[0] for key, _ in fetched], [key[1] for key, _ in fetched]]
    if profiles:
        columns.append([_dumps(document_fields(d)) for d in documents])
        columns.append([_dumps(document_interests(d)) for d in documents])
    else:
        columns.append([u.profile_copernica_id for _, u in fetched])
        columns.append([_dumps(document_fields(d)) for d in documents])
    columns.append([parse_timestamp(d.get("created")) for d in documents])
    columns.append([u.modified for _, u in fetched])
    with server_bound_cursor() as cursor:
        cursor.execute(
            _PROFILES_SQL if profiles else _SUBPROFILES_SQL,
            [
                id_array(pk for _, pk in from_events),
                id_array(key[0] for key, _ in from_events),
                *columns,
                link_id,
            ],
        )
        rows = cursor.fetchall()
    if profiles:
        _mirrored_add(link_id=link_id, delta=sum(1 for *_, inserted in rows if inserted))
    return {(int(parent), int(cid)) for parent, cid, _ in rows}


def _mirrored_add(*, link_id: int, delta: int) -> None:
    """Keep the dashboard's count of mirrored profiles (``Link.profiles_mirrored``) through
    the rows a batch added or removed: between runs only webhooks change the mirror, and an
    incremental run's count starts from this one (see linker.sync.engine). The batch holds the
    link's row locked already (linker.inbound.applying), so this adds no lock."""
    if delta:
        Link.objects.filter(pk=link_id).update(
            profiles_mirrored=Greatest(F("profiles_mirrored") + delta, 0)
        )


def _contents(side: Side) -> dict[Key, dict[str, Any]]:
    payloads = dict(
        InboundEvent.objects.filter(
            pk__in=[u.event_pk for u in side.upserts.values() if u.document is None]
        ).values_list("pk", "payload")
    )
    return {
        key: (u.document if u.document is not None else payloads.get(u.event_pk) or {})
        for key, u in side.upserts.items()
    }


def _newer(modified: datetime | None, held: datetime | None) -> bool:
    return held is None or (modified is not None and modified >= held)


def _upsert_portable(*, link_id: int, side: Side) -> set[Key]:
    """The same upsert, guards and comparison in Python (databases without the SQL above)."""
    profiles = side.kind == "profile"
    model: Any = RemoteProfile if profiles else RemoteSubprofile
    parent = "database_id" if profiles else "collection_id"
    names = ["fields", "interests"] if profiles else ["profile_copernica_id", "fields"]
    contents = _contents(side)
    rows: dict[Key, Any] = {}
    for parent_id in {key[0] for key in side.upserts}:
        ids = [key[1] for key in side.upserts if key[0] == parent_id]
        for row in model.objects.filter(**{parent: parent_id, "copernica_id__in": ids}):
            rows[(parent_id, row.copernica_id)] = row
    new, changed = [], []
    for key, upsert in side.upserts.items():
        document = contents[key]
        values: dict[str, Any] = {"fields": document_fields(document)}
        if profiles:
            values["interests"] = document_interests(document)
        else:
            values["profile_copernica_id"] = upsert.profile_copernica_id
        created = parse_timestamp(document.get("created"))
        row = rows.get(key)
        if row is None:
            new.append(
                model(
                    link_id=link_id,
                    copernica_id=key[1],
                    created=created,
                    modified=upsert.modified,
                    **{parent: key[0]},
                    **values,
                )
            )
            continue
        if row.removed_at is not None or not _newer(upsert.modified, row.modified):
            continue
        if row.modified == upsert.modified and all(
            getattr(row, name) == value for name, value in values.items()
        ):
            continue
        for name, value in values.items():
            setattr(row, name, value)
        row.modified, row.created = upsert.modified, created or row.created
        changed.append(row)
    # A sync may have brought the same new row meanwhile: its copy is Copernica's too. (Then
    # it is counted twice below, until the next full run counts: the demo database only.)
    model.objects.bulk_create(new, ignore_conflicts=True)
    if profiles:
        _mirrored_add(link_id=link_id, delta=len(new))
    model.objects.bulk_update(changed, [*names, "created", "modified"])
    return {(getattr(row, parent), row.copernica_id) for row in [*new, *changed]}


def _compared(side: Side, upsert: Upsert, document: dict[str, Any]) -> tuple[Any, ...]:
    if side.kind == "profile":
        return document_fields(document), document_interests(document), upsert.modified
    return upsert.profile_copernica_id, document_fields(document), upsert.modified


def chains_settle(*, side: Side) -> list[tuple[int, str, str]]:
    """Settle ``side``'s chains (several upserts of one (sub)profile in a batch) in Python:
    each is "no change" when its contents equal what the row held before it, else applied;
    the last applied one is written. → the chains' events' (pk, state, note)."""
    if not side.chains:
        return []
    profiles = side.kind == "profile"
    model: Any = RemoteProfile if profiles else RemoteSubprofile
    parent = "database_id" if profiles else "collection_id"
    chained = [upsert for chain in side.chains.values() for upsert in chain]
    payloads = dict(
        InboundEvent.objects.filter(
            pk__in=[u.event_pk for u in chained if u.document is None]
        ).values_list("pk", "payload")
    )
    held: dict[Key, tuple[Any, ...]] = {}
    for parent_id in {key[0] for key in side.chains}:
        ids = [key[1] for key in side.chains if key[0] == parent_id]
        for row in model.objects.filter(**{parent: parent_id, "copernica_id__in": ids}):
            values = {"fields": row.fields, "interests": getattr(row, "interests", None)}
            held[(parent_id, row.copernica_id)] = _compared(
                side,
                Upsert(0, row.modified, getattr(row, "profile_copernica_id", 0)),
                values,
            )
    outcomes: list[tuple[int, str, str]] = []
    for key, chain in side.chains.items():
        previous, kept = held.get(key), None
        for upsert in chain:
            document = upsert.document
            if document is None:
                document = payloads.get(upsert.event_pk) or {}
            contents = _compared(side, upsert, document)
            if contents == previous:
                outcomes.append((upsert.event_pk, State.SKIPPED, "no change"))
                continue
            outcomes.append((upsert.event_pk, State.APPLIED, upsert.note))
            previous, kept = contents, upsert
        if kept is None:
            del side.upserts[key]
        else:
            side.upserts[key] = kept
    return outcomes


def side_upsert(*, link_id: int, side: Side) -> set[Key]:
    """Write ``side``'s upserts → the (sub)profiles whose row was created or changed."""
    if not side.upserts:
        return set()
    if batch_reads.set_based():
        return _upsert_postgres(link_id=link_id, side=side)
    return _upsert_portable(link_id=link_id, side=side)


def side_remove(*, link_id: int, side: Side, cascades: Iterable[int], now: datetime) -> None:
    """Mark ``side``'s removals removed, and the subprofiles of the profiles in ``cascades``."""
    model: Any = RemoteProfile if side.kind == "profile" else RemoteSubprofile
    parent = "database_id" if side.kind == "profile" else "collection_id"
    removed = 0
    for parent_id in {key[0] for key in side.removals}:
        ids = [key[1] for key in side.removals if key[0] == parent_id]
        removed += model.objects.filter(
            **{parent: parent_id, "copernica_id__in": ids, "removed_at": None}
        ).update(removed_at=now)
    if side.kind == "profile":
        _mirrored_add(link_id=link_id, delta=-removed)
    cascaded = list(cascades)
    if cascaded:
        RemoteSubprofile.objects.filter(
            link_id=link_id, profile_copernica_id__in=cascaded, removed_at=None
        ).update(removed_at=now)
