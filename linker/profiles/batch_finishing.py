"""Finishing a batch of the outbox: every outcome recorded in one transaction, with the rows
locked again: the rows, the mirror, the request counts and log, the outbound webhooks' events,
and the messages of what goes next (see :mod:`linker.profiles.outbox`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from api_client import RateLimitedError
from linker.linking.client import MeteredSession
from linker.models import ProfileChange
from linker.outbound.events import webhook_events_from_rows
from linker.platform.delivery import Task, enqueue, retry_delay
from linker.platform.ratelimit import BudgetExhaustedError
from linker.platform.row_updates import rows_update
from linker.profiles.mirroring import mirror_apply_many
from linker.profiles.outbox import (
    DISCONNECTED_MESSAGE,
    Kind,
    SendOutcome,
    State,
    attempt_log_add,
    change_mark_finished,
    change_mark_waiting,
)
from linker.profiles.sending import Conflict, Sent

#: Marked *sending* but not called: back to the queue, its attempt not counted.
UNSENT = "unsent"


@dataclass
class ChangeResult:
    """What became of one change of a batch, recorded when the batch finishes."""

    state: str  # a State, or UNSENT
    message: str = ""
    sent: Sent | None = None
    conflict: Conflict | None = None
    error: BaseException | None = None
    at: datetime | None = None
    #: False: no call was made for it, so its attempt does not count.
    called: bool = True
    #: UNSENT: whether to enqueue it again (not when an unfinished change of its profile in
    #: this batch will, once it finishes); UNSENT and QUEUED: after how long.
    again: bool = True
    countdown: float = 0.0


def retry_wait(attempts: int, error: BaseException) -> float:
    """Seconds before a change whose call failed with ``error`` is sent again."""
    wait = retry_delay(attempts)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        # A 429's Retry-After already emptied the account's budget (metered_session).
        wait = max(wait, float(retry_after))
    return wait


_FINISHED_FIELDS = [
    "state",
    "attempts",
    "error_message",
    "finished_at",
    "attempt_log",
    "sending_since",
    "next_attempt_at",
    "in_doubt",
    "conflict",
    "copernica_profile_id",
    "copernica_subprofile_id",
]


def batch_finish(
    batch: list[ProfileChange], results: dict[int, ChangeResult], session: MeteredSession | None
) -> dict[int, SendOutcome]:
    """Record every outcome of the batch in one transaction: the rows, the mirror, the
    session's request counts and log, and the messages of what goes next."""
    outcomes: dict[int, SendOutcome] = {}
    with transaction.atomic():
        _commit_without_waiting()
        if session is not None:
            session.flush()
        # Locked again, but only their state read: a row still *sending* since our take has
        # been written by no one else since (every other writer moves it out of *sending*),
        # so the batch's own copies, read under the take's lock, are the rows as stored.
        rows = {
            pk: (state, since)
            for pk, state, since in ProfileChange.objects.select_for_update()
            .filter(pk__in=[change.pk for change in batch])
            .values_list("pk", "state", "sending_since")
        }
        recorded: list[ProfileChange] = []
        last_of_profile: dict[int, ProfileChange] = {}
        for row in batch:
            state, since = rows.get(row.pk, ("missing", None))
            if state != State.SENDING or since != row.sending_since:
                # No longer ours (the relay took it back from a worker it thought lost).
                outcomes[row.pk] = SendOutcome(row.pk, state)
                continue
            outcomes[row.pk] = _record(row, results[row.pk])
            recorded.append(row)
            if row.copernica_profile_id is not None and not (
                row.kind == Kind.CREATE and not row.is_subprofile
            ):
                last_of_profile[row.copernica_profile_id] = row
        mirror_apply_many([row for row in recorded if row.state == State.DONE])
        rows_update(recorded, _FINISHED_FIELDS)
        webhook_events_from_rows(recorded)  # the outbound webhooks' events, in this transaction
        finished = [row for row in last_of_profile.values() if row.state in _LETS_NEXT_GO]
        for row, next_id in _next_of_profiles(finished, exclude=rows):
            outcomes[row.pk].next_ids.append(next_id)
        for outcome in outcomes.values():
            for next_id in outcome.next_ids:
                enqueue(Task.PROFILE_CHANGE_SEND, next_id)
            if outcome.retry_in is not None:
                enqueue(Task.PROFILE_CHANGE_SEND, outcome.change_id, countdown=outcome.retry_in)
    recently_done.update(o.change_id for o in outcomes.values() if o.state == State.DONE)
    return outcomes


class _RecentlyDone:
    """The changes this process recorded *done* in the last minute (at most ``size``): the
    messages of a batch's other changes, which mostly come to the worker that sent it, end
    here without a read. *Done* is final (*Retry* takes failed and cancelled changes only);
    the minute bounds the harm should ids ever be reused (a database restored under running
    workers): such a change waits for the relay."""

    def __init__(self, size: int, seconds: float = 60.0) -> None:
        self._at: OrderedDict[int, float] = OrderedDict()
        self._size = size
        self._seconds = seconds

    def __contains__(self, change_id: object) -> bool:
        at = self._at.get(change_id)  # type: ignore[call-overload]
        return at is not None and time.monotonic() - at < self._seconds

    def update(self, change_ids: Iterable[int]) -> None:
        now = time.monotonic()
        for change_id in change_ids:
            self._at[change_id] = now
            self._at.move_to_end(change_id)
            if len(self._at) > self._size:
                self._at.popitem(last=False)


recently_done = _RecentlyDone(size=10_000)


#: A change in one of these states lets the next change of its profile go.
_LETS_NEXT_GO = (State.DONE, State.FAILED, State.CANCELLED)


def _record(row: ProfileChange, result: ChangeResult) -> SendOutcome:
    """Write ``result`` onto the locked ``row`` in memory; what to enqueue for it."""
    if not result.called:
        row.attempts = max(row.attempts - 1, 0)
    if result.state == UNSENT:
        row.state = State.QUEUED
        row.sending_since = None
        if result.countdown:
            row.next_attempt_at = timezone.now() + timedelta(seconds=result.countdown)
        retry_in = result.countdown if result.again else None
        return SendOutcome(row.pk, State.QUEUED, retry_in=retry_in)
    if result.state == State.WAITING:
        change_mark_waiting(row)
        return SendOutcome(row.pk, State.WAITING)
    if result.state == State.CANCELLED:
        change_mark_finished(row, State.CANCELLED, DISCONNECTED_MESSAGE)
        return SendOutcome(row.pk, State.CANCELLED)
    if result.state == State.CONFLICT:
        assert result.conflict is not None
        row.state = State.CONFLICT
        row.conflict = result.conflict.details
        row.error_message = (
            "Changed at Copernica after it was edited here; nothing was sent. "
            "Send anyway or discard."
        )
        attempt_log_add(row, "Conflict: Copernica has a newer version; waiting for a decision.")
        row.sending_since = None
        return SendOutcome(row.pk, State.CONFLICT)
    if result.state == State.QUEUED:
        assert result.error is not None
        return _retry_later(row, result.error, result.countdown)
    sent = result.sent
    if sent is not None and sent.profile_id is not None:
        row.copernica_profile_id = sent.profile_id
    if sent is not None and sent.subprofile_id is not None:
        row.copernica_subprofile_id = sent.subprofile_id
    row.in_doubt = False
    change_mark_finished(row, result.state, result.message, at=result.at)
    return SendOutcome(row.pk, row.state)


def _retry_later(row: ProfileChange, error: BaseException, wait: float) -> SendOutcome:
    message = str(getattr(error, "message", "") or error)[:300]
    if row.kind == Kind.CREATE and not isinstance(error, BudgetExhaustedError | RateLimitedError):
        row.in_doubt = True  # it may have reached Copernica
    if row.attempts >= settings.LINKER_WRITE_MAX_ATTEMPTS:
        change_mark_finished(
            row,
            State.FAILED,
            f"Gave up after {row.attempts} attempts. Copernica said: {message}",
        )
        return SendOutcome(row.pk, State.FAILED)
    wait = wait or retry_wait(row.attempts, error)
    row.state = State.QUEUED
    row.next_attempt_at = timezone.now() + timedelta(seconds=wait)
    row.error_message = message
    attempt_log_add(row, f"{type(error).__name__}: {message}; retry in {wait:.2f} s", wait)
    row.sending_since = None
    return SendOutcome(row.pk, State.QUEUED, retry_in=wait)


def _commit_without_waiting() -> None:
    """Let the caller's transaction commit without waiting for its WAL to reach the disk.

    For the outcome of a call only (never for *sending*, which must be on disk before the
    call): only a crash of PostgreSQL itself can lose it, and that is a worker lost after the
    call, which the outbox survives already: the change stays *sending*, the relay queues it
    again (a create in doubt, looked up before it is sent again; an update sent again, its
    conflict check finding Copernica holding its values; a delete finding the profile gone).
    The request counts and log written with them are diagnostics. Saves a WAL flush per batch,
    as the sync engine's pages do.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")


def _next_of_profiles(
    rows: list[ProfileChange], *, exclude: Iterable[int]
) -> list[tuple[ProfileChange, int]]:
    """The first queued change after each of ``rows`` (finished) of its profile, in one query;
    ``exclude`` the batch's own."""
    if not rows:
        return []
    firsts = dict(
        ProfileChange.objects.filter(
            link_id=rows[0].link_id,
            copernica_profile_id__in=[row.copernica_profile_id for row in rows],
            id__gt=min(row.pk for row in rows),
            state=State.QUEUED,
        )
        .exclude(pk__in=list(exclude))
        .order_by()
        .values("copernica_profile_id")
        .annotate(first=Min("id"))
        .values_list("copernica_profile_id", "first")
    )
    return [
        (row, firsts[row.copernica_profile_id])
        for row in rows
        if row.copernica_profile_id in firsts
    ]
