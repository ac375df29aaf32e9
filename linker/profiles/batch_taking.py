"""Taking a batch of the outbox: a change and the link's other queued changes that may go with
it, locked and marked *sending* in one transaction, committed before any call to Copernica.

The order per profile (see :mod:`linker.profiles.outbox`) is kept here: a change joins a batch
only when every unfinished change made before it to the same profile is in the batch too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from accounts.selectors import can_edit_profiles
from linker.models import Link, LinkState, ProfileChange, RemoteCollection, RemoteDatabase
from linker.outbound.events import webhook_states_stored
from linker.profiles.outbox import (
    DISCONNECTED_MESSAGE,
    LOST_ACCESS_MESSAGE,
    UNFINISHED,
    SendOutcome,
    State,
    change_close,
    change_wait,
)

#: The most changes one task sends (its link's, in order); see also
#: the setting ``LINKER_WRITE_BATCH_SECONDS``.
BATCH_SIZE = 100


def batch_take(change_id: int) -> SendOutcome | tuple[Link, list[ProfileChange]]:
    """Lock the change and the link's other changes that may go with it, and mark them
    *sending* (committed before any call: a worker lost after this leaves them to the relay)."""
    now = timezone.now()
    state = _state_of(change_id)
    if state != State.QUEUED:
        # Most messages of a batch's changes end here, in one read (a lock would make the
        # transaction wait for a WAL flush at its commit).
        return SendOutcome(change_id, state or "missing")
    with transaction.atomic():
        change = (
            ProfileChange.objects.select_for_update(of=("self",))
            .select_related("link", "link__tenant", "database", "collection", "created_by")
            # In the same round trip as the lock (a change without a profile id has none).
            .annotate(earlier_unfinished=Exists(_earlier_unfinished()))
            .filter(pk=change_id)
            .first()
        )
        if change is None or change.state != State.QUEUED:
            return SendOutcome(change_id, change.state if change else "missing")
        if change.next_attempt_at and change.next_attempt_at > now:
            return SendOutcome(change_id, change.state)  # early duplicate of a delayed retry
        if change.earlier_unfinished:
            return SendOutcome(change_id, change.state)  # the earlier one enqueues this one
        allowed = _Authors(change)
        if not allowed(change):
            return change_close(change, State.CANCELLED, LOST_ACCESS_MESSAGE)
        if not change.link.is_usable:
            if change.link.state == LinkState.DISCONNECTED:
                return change_close(change, State.CANCELLED, DISCONNECTED_MESSAGE)
            return change_wait(change)
        batch = _batch_join(change, now, allowed)
        ProfileChange.objects.filter(pk__in=[c.pk for c in batch]).update(
            state=State.SENDING, attempts=F("attempts") + 1, sending_since=now
        )
        for member in batch:
            member.state = State.SENDING
            member.attempts += 1
            member.sending_since = now
        # The batch's copies are the rows as stored now (the finish records onto them).
        webhook_states_stored(batch)
    return change.link, batch


def _state_of(change_id: int) -> str | None:
    """A change's state, in one read: plain SQL, as the ORM's building of the query takes
    several times the query's own ~0.1 ms, and every message of a batch's changes asks."""
    table = connection.ops.quote_name(ProfileChange._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT state FROM {table} WHERE id = %s", [change_id])  # noqa: S608
        row = cursor.fetchone()
    return str(row[0]) if row else None


def _related_attach(members: Sequence[ProfileChange], first: ProfileChange) -> None:
    """Give each member its link, database, collection and author, each row read once: a
    link's changes share a few, and a database row carries its whole list of fields."""
    databases = {first.database_id: first.database}
    collections = {first.collection_id: first.collection}
    users = {first.created_by_id: first.created_by}
    if databases_missing := {m.database_id for m in members} - databases.keys():
        databases.update(RemoteDatabase.objects.in_bulk(databases_missing))
    if collections_missing := {m.collection_id for m in members} - collections.keys() - {None}:
        collections.update(RemoteCollection.objects.in_bulk(collections_missing))
    if users_missing := {m.created_by_id for m in members} - users.keys() - {None}:
        users.update(User.objects.in_bulk(users_missing))
    for member in members:
        member.link = first.link
        member.database = databases[member.database_id]
        member.collection = collections.get(member.collection_id)
        member.created_by = users.get(member.created_by_id)


class _Authors:
    """Whether each change's author may still edit the tenant's profiles, asked once each."""

    def __init__(self, change: ProfileChange) -> None:
        self.tenant = change.link.tenant
        self.known: dict[int | None, bool] = {}

    def __call__(self, change: ProfileChange) -> bool:
        if change.created_by_id not in self.known:
            user = change.created_by
            self.known[change.created_by_id] = user is not None and can_edit_profiles(
                user=user, tenant=self.tenant
            )
        return self.known[change.created_by_id]


def _batch_join(change: ProfileChange, now: datetime, allowed: _Authors) -> list[ProfileChange]:
    """``change`` and the link's other due queued changes that may go with it, in id order.

    One may go when every unfinished change made before it to the same profile is in the batch
    too (it is sent after them). Changes another worker holds are skipped (SKIP LOCKED) and
    count as unfinished, so the profiles they hold back stay with that worker.
    """
    earlier_count = (
        ProfileChange.objects.filter(
            link_id=OuterRef("link_id"),
            copernica_profile_id=OuterRef("copernica_profile_id"),
            id__lt=OuterRef("pk"),
            state__in=UNFINISHED,
        )
        .order_by()
        .values("link_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    others = list(
        ProfileChange.objects.select_for_update(skip_locked=True)
        .annotate(earlier_count=Coalesce(Subquery(earlier_count), 0))
        .filter(link_id=change.link_id, state=State.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .exclude(pk=change.pk)
        .order_by("id")[: BATCH_SIZE - 1]
    )
    _related_attach(others, change)
    batch: list[ProfileChange] = []
    taken: Counter[int | None] = Counter()  # per profile: its changes taken so far
    for member in sorted([change, *others], key=lambda c: c.pk):
        profile_id = member.copernica_profile_id
        earlier = 0 if member is change else getattr(member, "earlier_count", 0)
        if profile_id is not None and earlier != taken[profile_id]:
            continue  # behind a change that is not in this batch
        taken[profile_id] += 1
        if member is not change and not allowed(member):
            change_close(member, State.CANCELLED, LOST_ACCESS_MESSAGE)
            continue
        batch.append(member)
    return batch


def _earlier_unfinished() -> QuerySet[ProfileChange]:
    """The unfinished changes made before the outer change to the same profile."""
    return ProfileChange.objects.filter(
        link_id=OuterRef("link_id"),
        copernica_profile_id=OuterRef("copernica_profile_id"),
        id__lt=OuterRef("pk"),
        state__in=UNFINISHED,
    )
