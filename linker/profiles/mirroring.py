"""A change Copernica took, shown in the mirror at once; the next sync brings Copernica's exact
copy (its ``modified`` included: only a sync writes ``modified``, which the incremental sync
starts from).

A batch of done changes is applied in a fixed number of queries, whatever its size: the rows
they touch are read at once, changed in memory in the order the changes were made, and written
back in one statement per kind of write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.utils import timezone

from linker.models import ProfileChange, RemoteProfile, RemoteSubprofile
from linker.platform.row_updates import rows_update

Kind = ProfileChange.Kind


def mirror_apply(change: ProfileChange) -> None:
    """Apply a done change to the mirror, inside the caller's transaction."""
    mirror_apply_many([change])


def mirror_apply_many(changes: Sequence[ProfileChange]) -> None:
    """Apply done changes (in id order, with ``database`` and ``collection`` loaded) to the
    mirror inside the caller's transaction, in a fixed number of queries."""
    # The profiles' search texts are emptied by a trigger and filled after the link's next
    # run: until then a search scans them among the unfilled.
    _profiles_apply(
        [c for c in changes if not c.is_subprofile and c.copernica_profile_id is not None]
    )
    _subprofiles_apply(
        [
            c
            for c in changes
            if c.is_subprofile
            and c.copernica_subprofile_id is not None
            and c.copernica_profile_id is not None
        ]
    )


def _base_fields(change: ProfileChange, current: dict[str, object]) -> dict[str, object]:
    """The fields a sent-anyway update went onto: Copernica's, as its conflict showed them."""
    seen = change.conflict.get("fields") if isinstance(change.conflict, dict) else None
    return {**current, **seen} if change.force and isinstance(seen, dict) else current


def _profiles_apply(changes: list[ProfileChange]) -> None:
    writes = [c for c in changes if c.kind != Kind.DELETE]
    if writes:
        rows = {
            (row.database_id, row.copernica_id): row
            for row in RemoteProfile.objects.filter(
                database_id__in={c.database_id for c in writes},
                copernica_id__in={c.copernica_profile_id for c in writes},
            )
        }
        new: dict[tuple[int, int], RemoteProfile] = {}
        changed: dict[tuple[int, int], RemoteProfile] = {}
        for change in writes:
            assert change.copernica_profile_id is not None
            key = (change.database_id, change.copernica_profile_id)
            row = rows.get(key) or new.get(key)
            if row is None:
                new[key] = RemoteProfile(
                    link_id=change.link_id,
                    database_id=change.database_id,
                    copernica_id=key[1],
                    fields={**change.database.field_defaults(), **change.fields},
                    interests=_interest_list([], change.interests),
                )
                continue
            _profile_change(row, change)
            if key not in new:
                changed[key] = row
        # A sync may have mirrored a new profile meanwhile: its copy is Copernica's own.
        RemoteProfile.objects.bulk_create(new.values(), ignore_conflicts=True)
        rows_update(list(changed.values()), ["fields", "interests"])
    deletes: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
    for change in changes:
        if change.kind == Kind.DELETE:
            assert change.copernica_profile_id is not None
            deletes[(change.link_id, change.database_id)].add(change.copernica_profile_id)
    now = timezone.now()
    for (link_id, database_id), ids in deletes.items():
        RemoteProfile.objects.filter(
            database_id=database_id, copernica_id__in=ids, removed_at=None
        ).update(removed_at=now)
        # Copernica removes a profile's subprofiles with it.
        RemoteSubprofile.objects.filter(
            link_id=link_id,
            collection__database_id=database_id,
            profile_copernica_id__in=ids,
            removed_at=None,
        ).update(removed_at=now)


def _profile_change(row: RemoteProfile, change: ProfileChange) -> None:
    row.fields = {**_base_fields(change, dict(row.fields or {})), **change.fields}
    interests = list(row.interests or [])
    seen = change.conflict.get("interests") if isinstance(change.conflict, dict) else None
    if change.force and isinstance(seen, list):
        interests = [str(name) for name in seen]
    if change.interests is not None:
        interests = _interest_list(interests, change.interests)
    row.interests = interests


def _interest_list(current: list[str], interests: object) -> list[str]:
    if isinstance(interests, dict):
        on = [name for name in current if interests.get(name, 1)]
        return on + [name for name, value in interests.items() if value and name not in on]
    if isinstance(interests, list):
        return [str(name) for name in interests]
    return current


def _subprofiles_apply(changes: list[ProfileChange]) -> None:
    writes = [c for c in changes if c.kind != Kind.DELETE]
    if writes:
        rows = {
            (row.collection_id, row.copernica_id): row
            for row in RemoteSubprofile.objects.filter(
                collection_id__in={c.collection_id for c in writes},
                copernica_id__in={c.copernica_subprofile_id for c in writes},
            )
        }
        new: dict[tuple[int, int], RemoteSubprofile] = {}
        changed: dict[tuple[int, int], RemoteSubprofile] = {}
        for change in writes:
            collection, parent = change.collection, change.copernica_profile_id
            assert collection is not None
            assert parent is not None
            assert change.copernica_subprofile_id is not None
            key = (collection.pk, change.copernica_subprofile_id)
            row = rows.get(key) or new.get(key)
            if row is None:
                new[key] = RemoteSubprofile(
                    link_id=change.link_id,
                    collection_id=key[0],
                    copernica_id=key[1],
                    profile_copernica_id=parent,
                    fields={**collection.field_defaults(), **change.fields},
                )
                continue
            row.fields = {**_base_fields(change, dict(row.fields or {})), **change.fields}
            if key not in new:
                changed[key] = row
        RemoteSubprofile.objects.bulk_create(new.values(), ignore_conflicts=True)
        rows_update(list(changed.values()), ["fields"])
    deletes: defaultdict[int, set[int]] = defaultdict(set)
    for change in changes:
        if change.kind == Kind.DELETE:
            assert change.collection_id is not None
            assert change.copernica_subprofile_id is not None
            deletes[change.collection_id].add(change.copernica_subprofile_id)
    now = timezone.now()
    for collection_id, ids in deletes.items():
        RemoteSubprofile.objects.filter(
            collection_id=collection_id, copernica_id__in=ids, removed_at=None
        ).update(removed_at=now)
