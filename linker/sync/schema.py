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
    database_rows = _SchemaRows(RemoteDatabase, link=link, now=now)
    collection_rows = _SchemaRows(RemoteCollection, link=link, now=now)
    for item in databases:
        database = database_rows.write(
            item,
            name=str(item.get("name", ""))[:300],
            fields=_embedded(item.get("fields")),
            interests=_embedded(item.get("interests")),
            collections=_embedded(item.get("collections")),
        )
        for described in _embedded(item.get("collections")):
            if not isinstance(described, dict) or "ID" not in described:
                continue
            collection_rows.write(
                described,
                database_id=database.pk,
                name=str(described.get("name", ""))[:300],
                fields=_embedded(described.get("fields")),
            )
    for rows in (database_rows, collection_rows):
        rows.touch_unchanged()
    for rows in (database_rows, collection_rows):
        rows.mark_unlisted_removed()
    return database_rows.listed, collection_rows.listed


class _SchemaRows:
    """A link's databases or collections in the mirror (``model``), by Copernica id, and what
    this schema phase makes of them: the rows Copernica lists, in its order, and those of them
    that were already as described (their ``synced_at`` is set in one UPDATE at the end)."""

    def __init__(self, model: type[Any], *, link: Link, now: datetime) -> None:
        self.model, self.link, self.now = model, link, now
        self.held = {row.copernica_id: row for row in model.objects.filter(link=link)}
        self.listed: list[Any] = []
        self.unchanged: list[int] = []

    def write(self, item: dict[str, Any], **values: Any) -> Any:
        """The row of ``item`` as Copernica describes it (``values``): created if new, written
        if it changed (or was marked removed), else noted as unchanged."""
        copernica_id = int(item["ID"])
        row = self.held.get(copernica_id)
        if row is None:
            row = self.model.objects.create(
                link=self.link,
                copernica_id=copernica_id,
                synced_at=self.now,
                removed_at=None,
                **values,
            )
            self.held[copernica_id] = row
        elif row.removed_at is None and all(
            getattr(row, name) == value for name, value in values.items()
        ):
            self.unchanged.append(row.pk)
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.synced_at, row.removed_at = self.now, None
            row.save(update_fields=[*values, "synced_at", "removed_at"])
        self.listed.append(row)
        return row

    def touch_unchanged(self) -> None:
        if self.unchanged:
            self.model.objects.filter(pk__in=self.unchanged).update(synced_at=self.now)

    def mark_unlisted_removed(self) -> None:
        """What Copernica no longer lists is gone there: its rows stay for the history."""
        listed = {row.pk for row in self.listed}
        gone = [r.pk for r in self.held.values() if r.removed_at is None and r.pk not in listed]
        if gone:
            self.model.objects.filter(pk__in=gone).update(removed_at=self.now)


def _embedded(value: object) -> list[Any]:
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return list(value["data"])
    if isinstance(value, list):
        return value
    return []
