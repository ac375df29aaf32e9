"""Applying the inbox to the mirror: in arrival order, idempotently, one link at a time.

Rules, per (sub)profile:

- A create or update whose ``modified`` is older than the mirror's changes nothing (a
  reordered or delayed delivery); one that equals the mirror's fields and ``modified`` changes
  nothing either (a duplicate). A removed row stays removed: Copernica never reuses an id, so an
  update arriving after its delete is late, not a resurrection.
- A delete marks the row removed (a profile's delete also its subprofiles: Copernica fires no
  delete for those).
- An update for a profile the mirror does not hold yet is fetched from Copernica (the event may
  be one of several the mirror missed); a create carries the whole record and is taken as is.
  An event for a database or collection not mirrored yet is skipped: the next sync brings it.

Appliers of one link are serialised by a lock on its :class:`~linker.models.InboundLink` row,
taken per batch; a fetch happens between two batches, outside any transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from api_client import CopernicaError, NotFoundError, parse_timestamp
from linker.linking.client import metered_session
from linker.models import (
    InboundEvent,
    InboundLink,
    Link,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
)
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import LinkerError

logger = logging.getLogger(__name__)

BATCH = 1000
State = InboundEvent.State


@dataclass
class _Fetch:
    """An event that needs its (sub)profile read from Copernica before it can be applied."""

    event_id: int


_NOT_FETCHED = object()


def _modified(document: dict[str, Any]) -> datetime | None:
    return parse_timestamp(document.get("modified"))


def _removed(document: dict[str, Any]) -> bool:
    value = str(document.get("removed") or "")
    return bool(value) and not value.startswith("0000")


def _fields(document: dict[str, Any]) -> dict[str, Any]:
    fields = document.get("fields")
    return dict(fields) if isinstance(fields, dict) else {}


def _interests(document: dict[str, Any]) -> list[str]:
    interests = document.get("interests")
    if isinstance(interests, list):
        return [str(item) for item in interests]
    if isinstance(interests, dict):  # a REST read may show them as name → 0/1
        return [str(name) for name, on in interests.items() if str(on) == "1"]
    return []


class _Batch:
    """One batch's mirror rows, read in a few queries and written back in a few: the places
    (databases, collections) and the rows the events name, locked; new and changed rows."""

    def __init__(self, link: Link, events: list[InboundEvent]) -> None:
        self.link = link
        profiles = [e for e in events if e.kind != "subprofile"]
        subprofiles = [e for e in events if e.kind == "subprofile"]
        self.databases = {
            db.copernica_id: db
            for db in RemoteDatabase.objects.filter(
                link=link,
                removed_at=None,
                copernica_id__in={
                    e.database_copernica_id for e in profiles if e.database_copernica_id
                },
            )
        }
        self.collections = {
            col.copernica_id: col
            for col in RemoteCollection.objects.filter(
                link=link,
                removed_at=None,
                copernica_id__in={
                    e.collection_copernica_id for e in subprofiles if e.collection_copernica_id
                },
            )
        }
        self.profiles: dict[tuple[int, int], RemoteProfile] = {
            (row.database_id, row.copernica_id): row
            for row in RemoteProfile.objects.select_for_update().filter(
                database__in=list(self.databases.values()),
                copernica_id__in={e.copernica_id for e in profiles},
            )
        }
        self.subprofiles: dict[tuple[int, int], RemoteSubprofile] = {
            (row.collection_id, row.copernica_id): row
            for row in RemoteSubprofile.objects.select_for_update().filter(
                collection__in=list(self.collections.values()),
                copernica_id__in={e.copernica_id for e in subprofiles},
            )
        }
        self.changed: set[int] = set()  # id() of rows to write back

    def touch(self, row: RemoteProfile | RemoteSubprofile) -> None:
        if row.pk is not None:
            self.changed.add(id(row))

    def save(self) -> None:
        profiles = list(self.profiles.values())
        subprofiles = list(self.subprofiles.values())
        # A sync may have brought the same new row meanwhile: its copy is Copernica's too.
        RemoteProfile.objects.bulk_create(
            [row for row in profiles if row.pk is None], ignore_conflicts=True
        )
        RemoteSubprofile.objects.bulk_create(
            [row for row in subprofiles if row.pk is None], ignore_conflicts=True
        )
        RemoteProfile.objects.bulk_update(
            [row for row in profiles if id(row) in self.changed],
            ["fields", "interests", "created", "modified", "removed_at"],
        )
        RemoteSubprofile.objects.bulk_update(
            [row for row in subprofiles if id(row) in self.changed],
            ["profile_copernica_id", "fields", "created", "modified", "removed_at"],
        )


def _document(
    event: InboundEvent, row: object, fetched: object
) -> dict[str, Any] | tuple[str, str] | _Fetch:
    """What the (sub)profile is: the event's variables, or Copernica's answer for an update of
    one the mirror lacks."""
    if row is not None or event.action != "update":
        return event.payload
    if fetched is _NOT_FETCHED:
        return _Fetch(event.pk)
    if fetched is None:
        return State.SKIPPED, "gone at Copernica"
    assert isinstance(fetched, dict)
    if _removed(fetched):
        return State.SKIPPED, "removed at Copernica"
    return fetched


def _apply_profile(batch: _Batch, event: InboundEvent, fetched: object) -> tuple[str, str] | _Fetch:
    database = batch.databases.get(event.database_copernica_id or 0)
    if database is None:
        return State.SKIPPED, "database not mirrored (yet)"
    key = (database.pk, event.copernica_id)
    row = batch.profiles.get(key)
    if event.action == "delete":
        if row is None or row.removed_at is not None:
            return State.SKIPPED, "not held or already removed"
        now = timezone.now()
        row.removed_at = now
        batch.touch(row)
        # Copernica fires no delete for the subprofiles that go with a profile.
        RemoteSubprofile.objects.filter(
            link=batch.link, profile_copernica_id=event.copernica_id, removed_at=None
        ).update(removed_at=now)
        for sub in batch.subprofiles.values():
            if sub.profile_copernica_id == event.copernica_id and sub.removed_at is None:
                sub.removed_at = now
        return State.APPLIED, "removed"
    document = _document(event, row, fetched)
    if not isinstance(document, dict):
        return document
    if row is not None and row.removed_at is not None:
        return State.SKIPPED, "removed here already"
    modified = _modified(document)
    fields, interests = _fields(document), _interests(document)
    created = parse_timestamp(document.get("created"))
    if row is None:
        batch.profiles[key] = RemoteProfile(
            link=batch.link,
            database=database,
            copernica_id=event.copernica_id,
            fields=fields,
            interests=interests,
            created=created,
            modified=modified,
        )
        return State.APPLIED, "created"
    if row.modified is not None and (modified is None or modified < row.modified):
        return State.SKIPPED, "older than the mirror"
    if (row.fields, row.interests, row.modified) == (fields, interests, modified):
        return State.SKIPPED, "no change"
    row.fields, row.interests, row.modified = fields, interests, modified
    row.created = created or row.created
    batch.touch(row)
    return State.APPLIED, "updated"


def _apply_subprofile(
    batch: _Batch, event: InboundEvent, fetched: object
) -> tuple[str, str] | _Fetch:
    collection = batch.collections.get(event.collection_copernica_id or 0)
    if collection is None:
        return State.SKIPPED, "collection not mirrored (yet)"
    key = (collection.pk, event.copernica_id)
    row = batch.subprofiles.get(key)
    if event.action == "delete":
        if row is None or row.removed_at is not None:
            return State.SKIPPED, "not held or already removed"
        row.removed_at = timezone.now()
        batch.touch(row)
        return State.APPLIED, "removed"
    document = _document(event, row, fetched)
    if not isinstance(document, dict):
        return document
    if row is not None and row.removed_at is not None:
        return State.SKIPPED, "removed here already"
    modified = _modified(document)
    fields = _fields(document)
    created = parse_timestamp(document.get("created"))
    profile_id = int(str(document.get("profile") or event.profile_copernica_id or 0))
    if row is None:
        batch.subprofiles[key] = RemoteSubprofile(
            link=batch.link,
            collection=collection,
            copernica_id=event.copernica_id,
            profile_copernica_id=profile_id,
            fields=fields,
            created=created,
            modified=modified,
        )
        return State.APPLIED, "created"
    if row.modified is not None and (modified is None or modified < row.modified):
        return State.SKIPPED, "older than the mirror"
    if (row.fields, row.modified) == (fields, modified):
        return State.SKIPPED, "no change"
    row.fields, row.modified = fields, modified
    row.created = created or row.created
    batch.touch(row)
    return State.APPLIED, "updated"


def _fetch(link: Link, event: InboundEvent) -> dict[str, Any] | str | None:
    """The (sub)profile as Copernica shows it now; ``None`` when gone; a message on failure."""
    try:
        with metered_session(link) as session:
            if event.kind == "subprofile":
                return session.client.get_subprofile(event.copernica_id)
            return session.client.get_profile(event.copernica_id)
    except NotFoundError:
        return None
    except (CopernicaError, LinkerError) as error:
        return f"could not read it from Copernica: {type(error).__name__}"


def _events_finish(events: list[InboundEvent]) -> None:
    """Record each event's outcome: one UPDATE per outcome (a handful per batch)."""
    now = timezone.now()
    outcomes: dict[tuple[str, str], list[int]] = {}
    for event in events:
        outcomes.setdefault((event.state, event.note), []).append(event.pk)
    for (state, note), ids in outcomes.items():
        InboundEvent.objects.filter(pk__in=ids).update(state=state, note=note, applied_at=now)


def inbound_events_apply(*, link_id: int) -> int:
    """Apply ``link_id``'s pending inbox events in arrival order; returns how many were done."""
    handled = 0
    fetched: dict[int, object] = {}
    while True:
        needs: InboundEvent | None = None
        with transaction.atomic():
            inbound = (
                InboundLink.objects.select_for_update()
                .select_related("link")
                .filter(link_id=link_id)
                .first()
            )
            if inbound is None:
                return handled
            events = list(
                InboundEvent.objects.filter(link_id=link_id, state=State.PENDING).order_by("id")[
                    :BATCH
                ]
            )
            done: list[InboundEvent] = []
            batch = _Batch(inbound.link, events)
            for event in events:
                result = (_apply_subprofile if event.kind == "subprofile" else _apply_profile)(
                    batch, event, fetched.pop(event.pk, _NOT_FETCHED)
                )
                if isinstance(result, _Fetch):
                    needs = event
                    break
                event.state, event.note = result
                done.append(event)
            batch.save()
            _events_finish(done)
            handled += len(done)
        if needs is not None:
            found = _fetch(inbound.link, needs)
            if isinstance(found, str):
                InboundEvent.objects.filter(pk=needs.pk, state=State.PENDING).update(
                    state=State.FAILED, note=found[:300], applied_at=timezone.now()
                )
                handled += 1
            else:
                fetched[needs.pk] = found
            continue
        if len(events) < BATCH:
            return handled


#: An event pending this long lost its message (Redis down, a worker killed): sent again.
RELAY_AFTER_SECONDS = 30


def inbound_events_relay() -> int:
    """Enqueue the appliers of links whose events wait too long (a lost message); beat."""
    cutoff = timezone.now() - timedelta(seconds=RELAY_AFTER_SECONDS)
    link_ids = list(
        InboundEvent.objects.filter(state=State.PENDING, received_at__lt=cutoff)
        .values_list("link_id", flat=True)
        .distinct()
    )
    for link_id in link_ids:
        enqueue(Task.INBOUND_EVENTS_APPLY, link_id)
    return len(link_ids)


#: Applied and skipped events are kept this long (the gap tally and people looking into a
#: delivery need them for a while; the mirror holds the result).
KEEP_DAYS = 7


def inbound_events_prune() -> int:
    """Delete handled inbox events older than :data:`KEEP_DAYS`; beat, daily."""
    cutoff = timezone.now() - timedelta(days=KEEP_DAYS)
    deleted, _ = (
        InboundEvent.objects.filter(received_at__lt=cutoff).exclude(state=State.PENDING).delete()
    )
    return deleted
