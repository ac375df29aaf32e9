"""The outbox: sending queued profile and subprofile changes to Copernica, once each, in order.

This module holds what its parts share: a send's outcome, the attempt log, and finishing or
parking one change inside the caller's transaction. The parts:

- :mod:`~linker.profiles.batch_sending`: ``profile_change_send``, a batch sent on one client.
- :mod:`~linker.profiles.batch_taking`: a batch locked and marked *sending*.
- :mod:`~linker.profiles.batch_finishing`: a batch's outcomes recorded in one transaction.
- :mod:`~linker.profiles.relay`: the relay, and the release of waiting changes.

A relay (beat) re-sends any whose message was lost (Redis down, a worker killed).
``profile_change_send`` is safe to deliver twice: the rows are locked and moved
queued → sending → done, so a second delivery finds nothing to do; the calls to Copernica are
made outside the transaction (:mod:`linker.profiles.sending`), and the rows are locked again to
record the outcomes and show them in the mirror (:mod:`linker.profiles.mirroring`).

**Batches.** A message names one change; its task takes the link's other queued changes that
may go with it too (at most :data:`~linker.profiles.batch_taking.BATCH_SIZE`, in the order they
were made), marks them all *sending* in one transaction, sends them on one client (one JWT
lookup, one kept-alive connection) for at most
``LINKER_WRITE_BATCH_SECONDS``, and records every outcome, the mirror,
the request ledger and log in one more transaction: a fixed number of SQL statements per batch.
The messages of the changes a batch took find nothing to do (in one read, or none in the
process that sent them). What was not sent in time goes back to the queue, its attempt not
counted. A worker lost in the middle leaves the whole batch *sending*: the relay queues it
again, each create in doubt (looked up before it is sent again), as for a single change. An
answer that concerns the account (a 429, a budget spent, a refused token) stops the batch.

Order per profile is kept: a change is not sent while an earlier change of the same profile
(or of one of its subprofiles: a subprofile change carries its parent's id) is unfinished,
unless that one is earlier in the same batch; finishing one enqueues the next. A change in
*conflict* counts as unfinished: the changes made after it wait until someone sends it anyway
or discards it, since they were made on top of it (in a batch they are not sent, and go back
to the queue). The relay never re-sends a conflict, nor what waits behind one.

While the link needs reconnecting a change *waits* (it is neither sent nor cancelled), and so
do the changes behind it. Once the link is usable again (``link_store_token`` enqueues
``profile_changes_release``; the relay catches a lost message) the waiting changes are queued
again in the order they were made. A disconnected link cancels its changes instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from linker.models import ProfileChange
from linker.platform.delivery import Task, enqueue

Kind = ProfileChange.Kind
State = ProfileChange.State
#: What a later change of the same profile waits for.
UNFINISHED = (State.QUEUED, State.WAITING, State.SENDING, State.CONFLICT)
WAITING_MESSAGE = "Waiting: the Copernica link needs reconnecting; sent once someone reconnects."
DISCONNECTED_MESSAGE = "Cancelled: the Copernica link was disconnected."
LOST_ACCESS_MESSAGE = "Cancelled: its author lost access."


@dataclass
class SendOutcome:
    """What a send left to do: retry this change later, and/or start the next ones."""

    change_id: int
    state: str
    retry_in: float | None = None
    next_ids: list[int] = field(default_factory=list)


def attempt_log_add(change: ProfileChange, outcome: str, retry_in: float | None = None) -> None:
    """Append an entry to the change's attempt log in memory (its last 20 are kept)."""
    entry: dict[str, object] = {
        "at": timezone.now().isoformat(),
        "attempt": change.attempts,
        "outcome": outcome,
    }
    if change.sending_since is not None:
        entry["sent_at"] = change.sending_since.isoformat()
    if retry_in is not None:
        entry["retry_in"] = round(retry_in, 3)
    change.attempt_log = [*list(change.attempt_log or []), entry][-20:]


def change_mark_finished(
    change: ProfileChange, state: str, message: str, *, at: datetime | None = None
) -> None:
    """Put the change in a final state in memory (the caller saves it)."""
    change.state = state
    change.error_message = message[:500]
    change.finished_at = at or timezone.now()
    attempt_log_add(change, message or state)
    change.sending_since = None


def change_close(change: ProfileChange, state: str, message: str) -> SendOutcome:
    """Finish a change inside the caller's transaction (it holds the row lock), and enqueue the
    next change of its profile."""
    change_mark_finished(change, state, message)
    change.save()
    next_ids = _next_for_profile(change)
    for next_id in next_ids:
        enqueue(Task.PROFILE_CHANGE_SEND, next_id)
    return SendOutcome(change.pk, state, next_ids=next_ids)


def change_mark_waiting(change: ProfileChange) -> None:
    """Park the change in memory until the link is reconnected (the caller saves it)."""
    change.state = State.WAITING
    change.error_message = WAITING_MESSAGE
    change.next_attempt_at = None
    change.sending_since = None
    attempt_log_add(change, WAITING_MESSAGE)


def change_wait(change: ProfileChange) -> SendOutcome:
    """Park a change until the link is reconnected (inside the caller's transaction, row
    locked); the changes behind it wait too, as they were made on top of it."""
    change_mark_waiting(change)
    change.save()
    return SendOutcome(change.pk, State.WAITING)


def _next_for_profile(change: ProfileChange) -> list[int]:
    if change.copernica_profile_id is None:
        return []
    if change.kind == Kind.CREATE and not change.is_subprofile:
        return []  # a new profile: nothing can have been queued for it yet
    following = (
        ProfileChange.objects.filter(
            link_id=change.link_id,
            copernica_profile_id=change.copernica_profile_id,
            id__gt=change.pk,
            state=State.QUEUED,
        )
        .order_by("id")
        .values_list("pk", flat=True)[:1]
    )
    return list(following)
