"""The outbox's relay (beat) and the release of waiting changes once their link is usable again.

The relay re-sends changes whose message was lost (Redis down, a worker killed); the release
queues a link's waiting changes again after a reconnect. See :mod:`linker.profiles.outbox`.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from linker.models import Link, ProfileChange
from linker.platform.delivery import Task, enqueue, publish
from linker.profiles.outbox import Kind, State, attempt_log_add, change_close


def profile_changes_release(*, link_id: int) -> list[int]:
    """Queue the link's waiting changes again, in the order they were made, once the link is
    usable; returns their ids. Safe to call twice, and a no-op while the link is not usable.

    A waiting change of a database that is gone (the tenant was linked to another Copernica
    account meanwhile) is cancelled: it must never reach the new account.
    """
    now = timezone.now()
    released: list[int] = []
    with transaction.atomic():
        link = Link.objects.select_for_update().filter(pk=link_id).first()
        if link is None or not link.is_usable:
            return []
        waiting = (
            ProfileChange.objects.select_for_update(of=("self",))
            .select_related("database")
            .filter(link_id=link_id, state=State.WAITING)
            .order_by("id")
        )
        for change in waiting:
            if change.database.removed_at is not None:
                change_close(change, State.CANCELLED, "Cancelled: its database is gone.")
                continue
            change.state = State.QUEUED
            change.next_attempt_at = now
            change.error_message = ""
            attempt_log_add(change, "The link was reconnected; queued again.")
            change.save()
            released.append(change.pk)
        for change_id in released:
            # In id order; one behind an earlier unfinished change of its profile does nothing
            # now and is enqueued again when that one finishes.
            enqueue(Task.PROFILE_CHANGE_SEND, change_id)
    return released


def profile_changes_relay(
    *, older_than: timedelta = timedelta(seconds=30), stale_after: timedelta | None = None
) -> int:
    """Re-send changes whose message was lost (beat); returns how many were enqueued.

    Queued changes due for longer than ``older_than`` are enqueued again (duplicates are
    harmless). A change stuck in *sending* for longer than ``stale_after`` lost its worker: it
    goes back to the queue, and a create is marked in doubt so it is looked up before it is
    sent again. Neither a conflict nor a change waiting behind one is re-sent: they wait for a
    person. Waiting changes of a link that is usable again (the release message after a
    reconnect was lost) are released.
    """
    now = timezone.now()
    stale = (
        stale_after
        if stale_after is not None
        else timedelta(seconds=settings.LINKER_WRITE_STALE_SECONDS)
    )
    waiting_links = (
        ProfileChange.objects.filter(Link.usable_q("link__"), state=State.WAITING)
        .order_by()
        .values_list("link_id", flat=True)
        .distinct()
    )
    for link_id in list(waiting_links):
        profile_changes_release(link_id=link_id)
    with transaction.atomic():
        stuck = ProfileChange.objects.select_for_update(skip_locked=True).filter(
            state=State.SENDING, sending_since__lt=now - stale
        )
        for change in stuck:
            change.state = State.QUEUED
            change.in_doubt = change.in_doubt or change.kind == Kind.CREATE
            change.sending_since = None
            change.next_attempt_at = now
            attempt_log_add(change, "The worker stopped while sending; queued again.")
            change.save()
    due = ProfileChange.objects.filter(state=State.QUEUED, created_at__lt=now - older_than).filter(
        next_attempt_at__isnull=True
    ) | ProfileChange.objects.filter(state=State.QUEUED, next_attempt_at__lt=now - older_than)
    behind_conflict = ProfileChange.objects.filter(
        link_id=OuterRef("link_id"),
        copernica_profile_id=OuterRef("copernica_profile_id"),
        id__lt=OuterRef("pk"),
        state=State.CONFLICT,
    )
    due = due.exclude(Exists(behind_conflict))
    ids = list(due.order_by("id").values_list("pk", flat=True)[:5000])
    for change_id in ids:
        publish(Task.PROFILE_CHANGE_SEND, change_id)
    return len(ids)
