"""Writing pages into the mirror on databases without ``INSERT ... ON CONFLICT ... WHERE`` (the
SQLite demo): the rows of a page read at once, compared in Python, and written with one bulk
create and one bulk update. PostgreSQL's path is :mod:`linker.sync.upserts`.
"""

from __future__ import annotations

from typing import Any

from api_client import parse_timestamp
from linker.models import RemoteProfile, RemoteSubprofile
from linker.sync.upserts import Written


def upsert_profiles_portable(
    *, link_id: int, database_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> Written:
    """The same upsert for databases without ``ON CONFLICT ... WHERE`` (the SQLite demo)."""
    by_id = {int(item["ID"]): item for item in items}
    existing = {
        row.copernica_id: row
        for row in RemoteProfile.objects.filter(database_id=database_id, copernica_id__in=by_id)
    }
    new: list[RemoteProfile] = []
    changed: list[RemoteProfile] = []
    revived = 0
    for profile_id, item in by_id.items():
        fields = item.get("fields") or {}
        interests = item.get("interests") or []
        created = parse_timestamp(item.get("created"))
        modified = parse_timestamp(item.get("modified"))
        row = existing.get(profile_id)
        if row is None:
            new.append(
                RemoteProfile(
                    link_id=link_id,
                    database_id=database_id,
                    copernica_id=profile_id,
                    fields=fields,
                    interests=interests,
                    created=created,
                    modified=modified,
                    last_run_id=run_id,
                )
            )
        elif (row.fields, row.interests, row.modified, row.removed_at) != (
            fields,
            interests,
            modified,
            None,
        ):
            revived += row.removed_at is not None
            row.fields, row.interests, row.created, row.modified = (
                fields,
                interests,
                created,
                modified,
            )
            row.removed_at = None
            row.last_run_id = run_id
            changed.append(row)
    RemoteProfile.objects.bulk_create(new)
    RemoteProfile.objects.bulk_update(
        changed, ["fields", "interests", "created", "modified", "removed_at", "last_run"]
    )
    return Written(len(new), len(changed), revived)


def upsert_subprofiles_portable(
    *, link_id: int, collection_id: int, run_id: int | None, items: list[dict[str, Any]]
) -> Written:
    """The subprofile upsert for databases without ``ON CONFLICT ... WHERE`` (the SQLite demo)."""
    by_id = {int(item["ID"]): item for item in items}
    existing = {
        row.copernica_id: row
        for row in RemoteSubprofile.objects.filter(
            collection_id=collection_id, copernica_id__in=by_id
        )
    }
    new: list[RemoteSubprofile] = []
    changed: list[RemoteSubprofile] = []
    revived = 0
    for subprofile_id, item in by_id.items():
        profile_id = int(item.get("profile") or 0)
        fields = item.get("fields") or {}
        created = parse_timestamp(item.get("created"))
        modified = parse_timestamp(item.get("modified"))
        row = existing.get(subprofile_id)
        if row is None:
            new.append(
                RemoteSubprofile(
                    link_id=link_id,
                    collection_id=collection_id,
                    copernica_id=subprofile_id,
                    profile_copernica_id=profile_id,
                    fields=fields,
                    created=created,
                    modified=modified,
                    last_run_id=run_id,
                )
            )
        elif (row.profile_copernica_id, row.fields, row.modified, row.removed_at) != (
            profile_id,
            fields,
            modified,
            None,
        ):
            revived += row.removed_at is not None
            row.profile_copernica_id, row.fields = profile_id, fields
            row.created, row.modified, row.removed_at = created, modified, None
            row.last_run_id = run_id
            changed.append(row)
    RemoteSubprofile.objects.bulk_create(new)
    RemoteSubprofile.objects.bulk_update(
        changed,
        ["profile_copernica_id", "fields", "created", "modified", "removed_at", "last_run"],
    )
    return Written(len(new), len(changed), revived)
