"""The schema phase's write: the databases and collections Copernica lists, into the mirror.

Compared with what the mirror holds first: a schema that did not change (most runs) costs two
reads and one touch of ``synced_at`` per table, not a locked read and a write (with two
savepoints) per database and collection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from linker.models import Link, RemoteCollection, RemoteDatabase


def schema_mirror(
    *, link: Link, databases: list[dict[str, Any]], now: datetime
) -> tuple[list[RemoteDatabase], list[RemoteCollection]]:
    """Write Copernica's ``databases`` (with their collections) in the caller's transaction;
    what Copernica no longer lists is marked removed (its rows stay for the history).
    → the databases and collections listed, in Copernica's order."""
    held_databases = {row.copernica_id: row for row in RemoteDatabase.objects.filter(link=link)}
    held_collections = {row.copernica_id: row for row in RemoteCollection.objects.filter(link=link)}
    touched: dict[type[Any], list[int]] = {RemoteDatabase: [], RemoteCollection: []}
    mirrored: list[RemoteDatabase] = []
    collections: list[RemoteCollection] = []
    for item in databases:
        database = _schema_row(
            RemoteDatabase,
            held_databases,
            touched,
            link=link,
            copernica_id=int(item["ID"]),
            now=now,
            values={
                "name": str(item.get("name", ""))[:300],
                "fields": _embedded(item.get("fields")),
                "interests": _embedded(item.get("interests")),
                "collections": _embedded(item.get("collections")),
            },
        )
        mirrored.append(database)
        for described in _embedded(item.get("collections")):
            if not isinstance(described, dict) or "ID" not in described:
                continue
            collection = _schema_row(
                RemoteCollection,
                held_collections,
                touched,
                link=link,
                copernica_id=int(described["ID"]),
                now=now,
                values={
                    "database_id": database.pk,
                    "name": str(described.get("name", ""))[:300],
                    "fields": _embedded(described.get("fields")),
                },
            )
            collections.append(collection)
    for model, pks in touched.items():
        if pks:
            model.objects.filter(pk__in=pks).update(synced_at=now)
    # What Copernica no longer lists is gone there: its rows stay for the history.
    listed: list[tuple[Any, dict[int, Any], list[Any]]] = [
        (RemoteDatabase, held_databases, mirrored),
        (RemoteCollection, held_collections, collections),
    ]
    for model, held, kept in listed:
        seen = {row.pk for row in kept}
        gone = [r.pk for r in held.values() if r.removed_at is None and r.pk not in seen]
        if gone:
            model.objects.filter(pk__in=gone).update(removed_at=now)
    return mirrored, collections


def _schema_row(
    model: type[Any],
    held: dict[int, Any],
    touched: dict[type[Any], list[int]],
    *,
    link: Link,
    copernica_id: int,
    now: datetime,
    values: dict[str, Any],
) -> Any:
    """The mirror's row of a database or collection as Copernica describes it: created if
    new, written if it changed (or was marked removed), else its pk goes into ``touched``
    (its ``synced_at`` is set with the others in one UPDATE)."""
    row = held.get(copernica_id)
    if row is None:
        row = model.objects.create(
            link=link, copernica_id=copernica_id, synced_at=now, removed_at=None, **values
        )
        held[copernica_id] = row
        return row
    if row.removed_at is None and all(
        getattr(row, name) == value for name, value in values.items()
    ):
        touched[model].append(row.pk)
        return row
    for name, value in values.items():
        setattr(row, name, value)
    row.synced_at, row.removed_at = now, None
    row.save(update_fields=[*values, "synced_at", "removed_at"])
    return row


def _embedded(value: object) -> list[Any]:
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return list(value["data"])
    if isinstance(value, list):
        return value
    return []
