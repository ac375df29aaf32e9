"""The Copernica calls of one outbox change, per kind, and the conflict check before an update.

Called by :func:`linker.profiles.batch_sending.profile_change_send` outside any transaction,
with the client of a metered session (one per batch of a link's changes). A create whose answer
was lost (``in_doubt``) is looked up by the fields it sent before it is sent again; a delete an
earlier lost attempt already made counts as done.

**Conflicts.** Before an update that carries ``base_modified`` (and is not forced) one
GET reads the (sub)profile's current ``modified`` at Copernica. It is compared with the
change's base, advanced by the writes the same author made to the same (sub)profile before this
one (they knew of those: the done ones in the database, and those made earlier in the same
batch, whose outcome is not recorded yet), at Copernica's resolution of one second: equal
means unchanged, as the mirror's ``modified`` came from Copernica. Later is a conflict unless
Copernica already holds every value of the change (then nothing would be overwritten: e.g. an
earlier attempt of this change landed and its answer was lost). A write between the GET and
the PUT cannot be seen: Copernica has no conditional update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max

from api_client import (
    CopernicaClient,
    ProfileAlreadyRemovedError,
    SubprofileAlreadyRemovedError,
    format_since,
    parse_timestamp,
)
from linker.models import ProfileChange
from linker.platform.errors import LinkerError

Kind = ProfileChange.Kind
State = ProfileChange.State
#: How far back a lost create is looked for at Copernica (its clock may run ahead of ours).
LOOKUP_MARGIN = timedelta(minutes=10)


class RemovedAtCopernicaError(LinkerError):
    """The (sub)profile an update is for was removed at Copernica meanwhile."""


@dataclass
class Sent:
    """Copernica took the change: the (parent) profile's id and, for subprofiles, its own."""

    profile_id: int | None
    subprofile_id: int | None = None
    note: str = ""


@dataclass
class Conflict:
    """Copernica changed the target after the copy the user edited; nothing was sent."""

    details: dict[str, Any]


#: What a write is to: its author, and the (sub)profile (``collection_id`` is ``None`` for a
#: profile). See :func:`write_key`.
WriteKey = tuple[int | None, int | None, int | None]


def write_key(change: ProfileChange, sent: Sent | None = None) -> WriteKey:
    """The author and target of ``change`` (a create's target from ``sent``, its outcome)."""
    if change.is_subprofile:
        target = sent.subprofile_id if sent else change.copernica_subprofile_id
    else:
        target = sent.profile_id if sent else change.copernica_profile_id
    return (change.created_by_id, change.collection_id, target)


def change_send(
    client: CopernicaClient, change: ProfileChange, *, own_write: datetime | None = None
) -> Sent | Conflict:
    """Make the change at Copernica (or find it in conflict). Copernica's errors propagate.

    ``own_write``: when the same author last wrote to the same target earlier in this batch
    (not in the database yet); the conflict check counts it as known to them.
    """
    if change.kind == Kind.UPDATE and change.base_modified is not None and not change.force:
        conflict = _conflict_find(client, change, own_write)
        if conflict is not None:
            return conflict
    if change.is_subprofile:
        return _subprofile_send(client, change)
    return _profile_send(client, change)


# ---------------------------------------------------------------------------------- profiles


def _profile_send(client: CopernicaClient, change: ProfileChange) -> Sent:
    database_id = change.database.copernica_id
    if change.kind == Kind.CREATE:
        if change.in_doubt and change.fields:
            found = client.find_profiles(database_id, _lookup(change))
            if found:
                # The earlier attempt did create it; its answer was lost on the way back.
                return Sent(max(int(item["ID"]) for item in found), note=_FOUND % "profile")
        return Sent(int(client.create_profile(database_id, change.fields, change.interests)))
    profile_id = change.copernica_profile_id
    assert profile_id is not None
    if change.kind == Kind.UPDATE:
        client.update_profile(profile_id, change.fields, change.interests)
        return Sent(profile_id)
    try:
        client.delete_profile(profile_id)
    except ProfileAlreadyRemovedError:
        if change.attempts <= 1:
            raise
        # An earlier attempt removed it and its answer was lost.
    return Sent(profile_id)


# ------------------------------------------------------------------------------- subprofiles


def _subprofile_send(client: CopernicaClient, change: ProfileChange) -> Sent:
    assert change.collection is not None
    assert change.copernica_profile_id is not None
    parent = change.copernica_profile_id
    if change.kind == Kind.CREATE:
        collection_id = change.collection.copernica_id
        if change.in_doubt and change.fields:
            found = [
                int(item["ID"])
                for item in client.find_subprofiles(collection_id, _lookup(change))
                if str(item.get("profile")) == str(parent)
            ]
            if found:
                return Sent(parent, max(found), note=_FOUND % "subprofile")
        return Sent(parent, int(client.create_subprofile(parent, collection_id, change.fields)))
    subprofile_id = change.copernica_subprofile_id
    assert subprofile_id is not None
    if change.kind == Kind.UPDATE:
        client.update_subprofile(subprofile_id, change.fields)
        return Sent(parent, subprofile_id)
    try:
        client.delete_subprofile(subprofile_id)
    except SubprofileAlreadyRemovedError:
        if change.attempts <= 1:
            raise
    return Sent(parent, subprofile_id)


_FOUND = "Found the %s created earlier."


def _lookup(change: ProfileChange) -> list[str]:
    """The filter that finds what a lost create made: its values, and recent."""
    since = format_since(change.created_at - LOOKUP_MARGIN)
    return [*(f"{name}=={value}" for name, value in change.fields.items()), f"modified>={since}"]


# --------------------------------------------------------------------------------- conflicts


def _conflict_find(
    client: CopernicaClient, change: ProfileChange, own_write: datetime | None
) -> Conflict | None:
    if change.is_subprofile:
        assert change.copernica_subprofile_id is not None
        current = client.get_subprofile(change.copernica_subprofile_id)
        what = "subprofile"
    else:
        assert change.copernica_profile_id is not None
        current = client.get_profile(change.copernica_profile_id)
        what = "profile"
    if current.get("removed"):
        raise RemovedAtCopernicaError(f"This {what} was removed at Copernica.")
    modified = parse_timestamp(current.get("modified"))
    base = _base(change, own_write)
    # Copernica counts whole seconds: a base within the same second is not older.
    if modified is None or base is None or modified <= base.replace(microsecond=0):
        return None
    if _already_holds(current, change):
        return None
    fields = current.get("fields")
    details: dict[str, Any] = {
        "modified": modified.isoformat(),
        "base": base.isoformat(),
        "fields": {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {},
    }
    if not change.is_subprofile:
        interests = current.get("interests")
        details["interests"] = [str(n) for n in interests] if isinstance(interests, list) else []
    return Conflict(details)


def _base(change: ProfileChange, own_write: datetime | None) -> datetime | None:
    """The change's base, advanced past its author's earlier writes to the same target."""
    own = ProfileChange.objects.filter(
        link_id=change.link_id,
        created_by_id=change.created_by_id,
        id__lt=change.pk,
        state=State.DONE,
        kind__in=(Kind.CREATE, Kind.UPDATE),
    )
    if change.is_subprofile:
        own = own.filter(
            collection_id=change.collection_id,
            copernica_subprofile_id=change.copernica_subprofile_id,
        )
    else:
        own = own.filter(collection__isnull=True, copernica_profile_id=change.copernica_profile_id)
    latest = own.aggregate(latest=Max("finished_at"))["latest"]
    known = [moment for moment in (change.base_modified, latest, own_write) if moment]
    return max(known) if known else None


def _already_holds(current: dict[str, Any], change: ProfileChange) -> bool:
    fields = current.get("fields")
    values = {str(k).lower(): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}
    if any(values.get(name.lower()) != value for name, value in change.fields.items()):
        return False
    if change.is_subprofile or change.interests is None:
        return True
    listed = current.get("interests")
    on = {str(name) for name in listed} if isinstance(listed, list) else set()
    if isinstance(change.interests, dict):
        return all((name in on) == bool(wanted) for name, wanted in change.interests.items())
    return on == {str(name) for name in change.interests}
