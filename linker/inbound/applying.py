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

A batch of events is decided in order on their ids and timestamps alone
(:mod:`linker.inbound.planning`) and written set-based (:mod:`linker.inbound.mirror_writes`):
the contents go from the inbox rows into the mirror inside PostgreSQL, as a sync's pages do.
Appliers of one link are serialised by a lock on its :class:`~linker.models.InboundLink` row,
taken per batch; the fetches a batch needs happen together between two batches, outside any
transaction, in one metered session.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from api_client import CopernicaError, NotFoundError
from linker.inbound.batch_reads import (
    commit_unflushed,
    events_finish,
    held_rows,
    pending_events,
)
from linker.inbound.mirror_writes import chains_settle, side_remove, side_upsert
from linker.inbound.planning import Event, Plan, Side, plan_batch
from linker.linking.client import metered_session
from linker.models import (
    InboundEvent,
    InboundLink,
    InboundPending,
    Link,
    RemoteCollection,
    RemoteDatabase,
)
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import LinkerError

logger = logging.getLogger(__name__)

#: Events per batch (one transaction under the link's lock). Each batch pays the lock, the
#: reads of the link's databases and collections, the dashboard count's update and the
#: planning of its statements; the rows themselves cost the same in any batch size. At 1,000
#: those fixed costs were ~15% of a burst of 10,000; a batch of 5,000 holds the lock ~0.1 s.
BATCH = 5000
State = InboundEvent.State


def _sides(link: Link, events: list[Event]) -> tuple[Side, Side]:
    """The places and held rows ``events`` name, read without their contents."""
    wanted: dict[str, set[int]] = {"profile": set(), "subprofile": set()}
    for event in events:
        if event.place:
            wanted["subprofile" if event.kind == "subprofile" else "profile"].add(event.place)
    databases: dict[int, int] = {}
    collections: dict[int, int] = {}
    if wanted["profile"]:
        databases = dict(
            RemoteDatabase.objects.filter(
                link=link, removed_at=None, copernica_id__in=wanted["profile"]
            ).values_list("copernica_id", "pk")
        )
    if wanted["subprofile"]:
        collections = dict(
            RemoteCollection.objects.filter(
                link=link, removed_at=None, copernica_id__in=wanted["subprofile"]
            ).values_list("copernica_id", "pk")
        )
    sides = []
    for kind, places in (("profile", databases), ("subprofile", collections)):
        ids = sorted(
            {e.copernica_id for e in events if (e.kind == "subprofile") == (kind == "subprofile")}
        )
        held = held_rows(kind=kind, parents=sorted(places.values()), ids=ids)
        sides.append(Side(kind, places, held))
    return sides[0], sides[1]


def _plan_write(link: Link, plan: Plan) -> list[tuple[int, str, str]]:
    """Write ``plan``; → each walked event's (pk, state, note)."""
    outcomes = [(pk, state, note) for pk, (state, note) in plan.outcomes.items()]
    outcomes += chains_settle(side=plan.profiles) + chains_settle(side=plan.subprofiles)
    written = {
        side.kind: side_upsert(link_id=link.pk, side=side)
        for side in (plan.profiles, plan.subprofiles)
    }
    now = timezone.now()
    side_remove(link_id=link.pk, side=plan.profiles, cascades=plan.cascades, now=now)
    side_remove(link_id=link.pk, side=plan.subprofiles, cascades=(), now=now)
    for pk, (note, kind, key) in plan.tentative.items():
        if key in written[kind]:
            outcomes.append((pk, State.APPLIED, note))
        else:  # the contents equal the row's (or a sync wrote something newer meanwhile)
            outcomes.append((pk, State.SKIPPED, "no change"))
    return outcomes


def _fetch_all(link: Link, events: list[Event]) -> dict[int, object]:
    """The (sub)profiles of ``events`` as Copernica shows them now, in one metered session:
    a document, ``None`` when gone, or a message on failure (the fetching stops there: the
    rest wait for the next round). Copernica has no call that reads several by id."""
    found: dict[int, object] = {}
    try:
        with metered_session(link) as session:
            for event in events:
                try:
                    if event.kind == "subprofile":
                        found[event.pk] = session.client.get_subprofile(event.copernica_id)
                    else:
                        found[event.pk] = session.client.get_profile(event.copernica_id)
                except NotFoundError:
                    found[event.pk] = None
    except (CopernicaError, LinkerError) as error:
        message = f"could not read it from Copernica: {type(error).__name__}"
        pending = [event for event in events if event.pk not in found]
        if pending:
            found[pending[0].pk] = message
    return found


def inbound_events_apply(*, link_id: int) -> int:
    """Apply ``link_id``'s pending inbox events in arrival order; returns how many were done."""
    handled = 0
    fetched: dict[int, object] = {}
    while True:
        with transaction.atomic():
            inbound = (
                InboundLink.objects.select_for_update()
                .select_related("link")
                .filter(link_id=link_id)
                .first()
            )
            if inbound is None:
                return handled
            commit_unflushed()
            events = pending_events(link_id=link_id, limit=BATCH)
            profiles, subprofiles = _sides(inbound.link, events)
            plan = plan_batch(
                events=events, profiles=profiles, subprofiles=subprofiles, fetched=fetched
            )
            outcomes = _plan_write(inbound.link, plan)
            events_finish(outcomes)
            handled += len(outcomes)
        if plan.to_fetch:
            fetched.update(_fetch_all(inbound.link, plan.to_fetch))
            continue
        if len(events) < BATCH:
            return handled


#: An event pending this long lost its message (Redis down, a worker killed): sent again.
RELAY_AFTER_SECONDS = 30


def inbound_events_relay() -> int:
    """Enqueue the appliers of links whose events wait too long (a lost message); beat."""
    cutoff = timezone.now() - timedelta(seconds=RELAY_AFTER_SECONDS)
    link_ids = list(
        InboundPending.objects.filter(event__received_at__lt=cutoff)
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
