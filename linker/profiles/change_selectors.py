"""Selectors of the outbox for the pages: a tenant's changes, their states, their conflicts, and
the version of a mirror copy a user is about to edit.

Every function starts from a tenant the caller got from ``accounts.selectors.tenant_get`` and
filters by that tenant's link, so a foreign change id is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.http import Http404

from accounts.models import Tenant
from linker.models import ProfileChange, RemoteProfile, RemoteSubprofile
from linker.profiles.selectors import profile_link_get

Kind = ProfileChange.Kind
State = ProfileChange.State


@dataclass
class ConflictRow:
    """One field of a change in conflict: the value sent, and Copernica's current value."""

    name: str
    yours: str
    theirs: str

    @property
    def differs(self) -> bool:
        return self.yours != self.theirs


@dataclass
class ChangeEntry:
    """A change as the changes table shows it, with Copernica's side of a conflict."""

    change: ProfileChange
    conflict_modified: datetime | None = None
    conflict_rows: list[ConflictRow] = field(default_factory=list)

    @property
    def in_conflict(self) -> bool:
        return self.change.state == State.CONFLICT


def _entry(change: ProfileChange) -> ChangeEntry:
    if change.state != State.CONFLICT or not isinstance(change.conflict, dict):
        return ChangeEntry(change)
    theirs = change.conflict.get("fields")
    theirs = theirs if isinstance(theirs, dict) else {}
    lowered = {str(name).lower(): value for name, value in theirs.items()}
    rows = [
        ConflictRow(str(name), str(value), str(lowered.get(str(name).lower(), "")))
        for name, value in (change.fields or {}).items()
    ]
    if change.interests is not None:
        current = change.conflict.get("interests")
        rows.append(
            ConflictRow(
                "interests",
                _interests_text(change.interests),
                ", ".join(str(n) for n in current) if isinstance(current, list) else "",
            )
        )
    modified = change.conflict.get("modified")
    return ChangeEntry(
        change,
        conflict_modified=datetime.fromisoformat(modified) if isinstance(modified, str) else None,
        conflict_rows=rows,
    )


def _interests_text(interests: object) -> str:
    if isinstance(interests, dict):
        return ", ".join(f"{'+' if on else '-'}{name}" for name, on in interests.items())
    if isinstance(interests, list):
        return ", ".join(str(name) for name in interests)
    return ""


def profile_change_list(
    *,
    tenant: Tenant,
    copernica_id: int | None = None,
    subprofile: RemoteSubprofile | None = None,
    limit: int = 20,
) -> list[ChangeEntry]:
    """The latest changes of the tenant's profiles, newest first: all of them, those of one
    profile (its subprofiles' changes included), or those of one subprofile."""
    link = profile_link_get(tenant=tenant)
    changes = ProfileChange.objects.filter(link=link).select_related("created_by", "collection")
    if copernica_id is not None:
        changes = changes.filter(copernica_profile_id=copernica_id)
    if subprofile is not None:
        changes = changes.filter(
            collection_id=subprofile.collection_id,
            copernica_subprofile_id=subprofile.copernica_id,
        )
    return [_entry(change) for change in changes.order_by("-id")[:limit]]


def profile_change_get(*, tenant: Tenant, change_id: Any) -> ProfileChange:
    """One change of the tenant's link; 404 for anything else."""
    link = profile_link_get(tenant=tenant)
    try:
        pk = int(change_id)
    except (TypeError, ValueError):
        raise Http404("No such change.") from None
    change = ProfileChange.objects.filter(link=link, pk=pk).first()
    if change is None:
        raise Http404("No such change.")
    return change


def profile_change_states(*, tenant: Tenant, ids: list[int]) -> list[dict[str, Any]]:
    """The state of the given changes (only those of this tenant), for the live status list."""
    link = profile_link_get(tenant=tenant)
    rows = ProfileChange.objects.filter(link=link, pk__in=ids[:100]).order_by("-id")
    return [
        {
            "id": change.pk,
            "state": change.state,
            "label": change.get_state_display(),
            "message": change.error_message,
            "profile": change.copernica_profile_id,
            "subprofile": change.copernica_subprofile_id,
            "finished": change.is_finished,
            # Waiting for a person (send anyway or discard; a reconnect), not for a worker.
            "waiting": change.state in (State.CONFLICT, State.WAITING),
        }
        for change in rows
    ]


def _landed(changes: Any) -> datetime | None:
    return changes.filter(state=State.DONE, kind__in=(Kind.CREATE, Kind.UPDATE)).aggregate(
        last=Max("finished_at")
    )["last"]


def _later(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def profile_version(*, profile: RemoteProfile) -> datetime | None:
    """The version of a mirrored profile as a user sees it: Copernica's ``modified`` of the
    copy, or the end of the last write of ours the mirror already shows, whichever is later.

    The editor sends it back as ``base_modified``; a newer ``modified`` at Copernica then means
    someone else changed the profile after the user opened it.
    """
    ours = ProfileChange.objects.filter(
        link_id=profile.link_id,
        collection__isnull=True,
        copernica_profile_id=profile.copernica_id,
    )
    return _later(profile.modified, _landed(ours))


def subprofile_version(*, subprofile: RemoteSubprofile) -> datetime | None:
    """As :func:`profile_version`, for a mirrored subprofile."""
    ours = ProfileChange.objects.filter(
        collection_id=subprofile.collection_id,
        link_id=subprofile.link_id,
        copernica_subprofile_id=subprofile.copernica_id,
    )
    return _later(subprofile.modified, _landed(ours))
