"""A change Copernica took, shown in the mirror at once; the next sync brings Copernica's exact
copy (its ``modified`` included: only a sync writes ``modified``, which the incremental sync
starts from)."""

from __future__ import annotations

from django.utils import timezone

from linker.models import ProfileChange, RemoteProfile, RemoteSubprofile

Kind = ProfileChange.Kind


def mirror_apply(change: ProfileChange) -> None:
    """Apply a done change to the mirror, inside the caller's transaction."""
    if change.is_subprofile:
        _subprofile_apply(change)
    else:
        _profile_apply(change)


def _base_fields(change: ProfileChange, current: dict[str, object]) -> dict[str, object]:
    """The fields a sent-anyway update went onto: Copernica's, as its conflict showed them."""
    seen = change.conflict.get("fields") if isinstance(change.conflict, dict) else None
    return {**current, **seen} if change.force and isinstance(seen, dict) else current


def _profile_apply(change: ProfileChange) -> None:
    if change.copernica_profile_id is None:
        return
    rows = RemoteProfile.objects.filter(
        database_id=change.database_id, copernica_id=change.copernica_profile_id
    )
    if change.kind == Kind.DELETE:
        now = timezone.now()
        rows.filter(removed_at=None).update(removed_at=now)
        # Copernica removes a profile's subprofiles with it.
        RemoteSubprofile.objects.filter(
            link_id=change.link_id,
            collection__database_id=change.database_id,
            profile_copernica_id=change.copernica_profile_id,
            removed_at=None,
        ).update(removed_at=now)
        return
    row = rows.first()
    if row is None:
        defaults = change.database.field_defaults()
        RemoteProfile.objects.create(
            link_id=change.link_id,
            database_id=change.database_id,
            copernica_id=change.copernica_profile_id,
            fields={**defaults, **change.fields},
            interests=_interest_list([], change.interests),
        )
        return
    row.fields = {**_base_fields(change, dict(row.fields or {})), **change.fields}
    interests = list(row.interests or [])
    seen = change.conflict.get("interests") if isinstance(change.conflict, dict) else None
    if change.force and isinstance(seen, list):
        interests = [str(name) for name in seen]
    if change.interests is not None:
        interests = _interest_list(interests, change.interests)
    row.interests = interests
    row.save(update_fields=["fields", "interests"])


def _interest_list(current: list[str], interests: object) -> list[str]:
    if isinstance(interests, dict):
        on = [name for name in current if interests.get(name, 1)]
        return on + [name for name, value in interests.items() if value and name not in on]
    if isinstance(interests, list):
        return [str(name) for name in interests]
    return current


def _subprofile_apply(change: ProfileChange) -> None:
    assert change.collection is not None
    assert change.collection_id is not None
    if change.copernica_subprofile_id is None or change.copernica_profile_id is None:
        return
    rows = RemoteSubprofile.objects.filter(
        collection_id=change.collection_id, copernica_id=change.copernica_subprofile_id
    )
    if change.kind == Kind.DELETE:
        rows.filter(removed_at=None).update(removed_at=timezone.now())
        return
    row = rows.first()
    if row is None:
        RemoteSubprofile.objects.create(
            link_id=change.link_id,
            collection_id=change.collection_id,
            copernica_id=change.copernica_subprofile_id,
            profile_copernica_id=change.copernica_profile_id,
            fields={**change.collection.field_defaults(), **change.fields},
        )
        return
    row.fields = {**_base_fields(change, dict(row.fields or {})), **change.fields}
    row.save(update_fields=["fields"])
