"""Writing pages into the mirror on databases without ``INSERT ... ON CONFLICT ... WHERE`` (the
SQLite demo): the rows of a page read at once, compared in Python, and written with one bulk
create and one bulk update. PostgreSQL's path is :mod:`linker.sync.upserts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api_client import parse_timestamp
from linker.sync.upserts import PROFILES, SUBPROFILES, Mirror, Written


def upsert_profiles_portable(
    *, link_id: int, database_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> Written:
    """The same upsert for databases without ``ON CONFLICT ... WHERE`` (the SQLite demo)."""
    return _upsert(
        PROFILES,
        link_id=link_id,
        parent_id=database_id,
        run_id=run_id,
        items=items,
        values=_profile_values,
    )


def upsert_subprofiles_portable(
    *, link_id: int, collection_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> Written:
    """The subprofile upsert for databases without ``ON CONFLICT ... WHERE`` (the SQLite demo)."""
    return _upsert(
        SUBPROFILES,
        link_id=link_id,
        parent_id=collection_id,
        run_id=run_id,
        items=items,
        values=_subprofile_values,
    )


# An item's columns, named and ordered as its mirror's ``updates``.


def _profile_values(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "fields": item.get("fields") or {},
        "interests": item.get("interests") or [],
        "created": parse_timestamp(item.get("created")),
        "modified": parse_timestamp(item.get("modified")),
    }


def _subprofile_values(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "profile_copernica_id": int(item.get("profile") or 0),
        "fields": item.get("fields") or {},
        "created": parse_timestamp(item.get("created")),
        "modified": parse_timestamp(item.get("modified")),
    }


def _upsert(
    mirror: Mirror,
    *,
    link_id: int,
    parent_id: int,
    run_id: int | None,
    items: list[dict[str, Any]],
    values: Callable[[dict[str, Any]], dict[str, Any]],
) -> Written:
    """Create the page's new rows, and write those that differ from Copernica in ``mirror``'s
    ``compared`` columns or were marked removed (PostgreSQL's upsert writes the same ones:
    ``created`` is written with a changed row but does not make a row changed)."""
    compared = [name.strip() for name in mirror.compared.split(",")]
    updates = [name.strip() for name in mirror.updates.split(",")]
    model: Any = mirror.model
    by_id = {int(item["ID"]): item for item in items}
    existing = {
        row.copernica_id: row
        for row in model.objects.filter(**{mirror.parent: parent_id}, copernica_id__in=by_id)
    }
    new: list[Any] = []
    changed: list[Any] = []
    revived = 0
    for copernica_id, item in by_id.items():
        fresh = values(item)
        row = existing.get(copernica_id)
        if row is None:
            new.append(
                model(
                    link_id=link_id,
                    **{mirror.parent: parent_id},
                    copernica_id=copernica_id,
                    last_run_id=run_id,
                    **fresh,
                )
            )
        elif row.removed_at is not None or any(
            getattr(row, name) != fresh[name] for name in compared
        ):
            revived += row.removed_at is not None
            for name in updates:
                setattr(row, name, fresh[name])
            row.removed_at = None
            row.last_run_id = run_id
            changed.append(row)
    model.objects.bulk_create(new)
    model.objects.bulk_update(changed, [*updates, "removed_at", "last_run"])
    return Written(len(new), len(changed), revived)
