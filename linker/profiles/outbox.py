"""The outbox: sending queued profile and subprofile changes to Copernica, once each, in order.

A relay (beat) re-sends any whose message was lost (Redis down, a worker killed).
``profile_change_send`` is safe to deliver twice: the rows are locked and moved
queued → sending → done, so a second delivery finds nothing to do; the calls to Copernica are
made outside the transaction (:mod:`linker.profiles.sending`), and the rows are locked again to
record the outcomes and show them in the mirror (:mod:`linker.profiles.mirroring`).

**Batches.** A message names one change; its task takes the link's other queued changes that
may go with it too (at most :data:`BATCH_SIZE`, in the order they were made), marks them all
*sending* in one transaction, sends them on one client (one JWT lookup, one kept-alive
connection) for at most :data:`BATCH_SECONDS`, and records every outcome, the mirror, the
request ledger and log in one more transaction: a fixed number of SQL statements per batch.
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

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from accounts.selectors import can_edit_profiles
from api_client import (
    AuthError,
    BadRequestError,
    CopernicaClient,
    CopernicaError,
    RateLimitedError,
)
from linker.linking.client import MeteredSession, metered_session
from linker.linking.errors import LinkNotUsableError
from linker.models import Link, LinkState, ProfileChange, RemoteCollection, RemoteDatabase
from linker.outbound.events import webhook_events_from_rows
from linker.platform.delivery import Task, enqueue, publish, retry_delay
from linker.platform.ratelimit import BudgetExhaustedError
from linker.profiles.mirroring import mirror_apply_many
from linker.profiles.row_updates import rows_update
from linker.profiles.sending import (
    Conflict,
    RemovedAtCopernicaError,
    Sent,
    WriteKey,
    change_send,
    write_key,
)

logger = logging.getLogger(__name__)

Kind = ProfileChange.Kind
State = ProfileChange.State
#: What a later change of the same profile waits for.
_UNFINISHED = (State.QUEUED, State.WAITING, State.SENDING, State.CONFLICT)
WAITING_MESSAGE = "Waiting: the Copernica link needs reconnecting; sent once someone reconnects."
DISCONNECTED_MESSAGE = "Cancelled: the Copernica link was disconnected."
LOST_ACCESS_MESSAGE = "Cancelled: its author lost access."
#: The most changes one task sends (its link's, in order), and how long it may go on sending
#: before it leaves the rest to the next task: kept far below ``LINKER_WRITE_STALE_SECONDS``,
#: after which the relay takes a change still *sending* for a lost one.
BATCH_SIZE = 100
BATCH_SECONDS = 2.0


@dataclass
class SendOutcome:
    """What a send left to do: retry this change later, and/or start the next ones."""

    change_id: int
    state: str
    retry_in: float | None = None
    next_ids: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------- sending


def profile_change_send(*, change_id: int) -> SendOutcome:
    """Send a queued change to Copernica, with the other changes of its link that may go now,
    and record the outcomes; returns this change's. Safe to deliver twice.

    A batch (:data:`BATCH_SIZE` at most, in id order) is marked *sending* in one transaction,
    sent on one client within :data:`BATCH_SECONDS`, and finished in one transaction: those not
    sent in time go back to the queue. A worker killed meanwhile leaves them *sending*, which
    the relay queues again (a create in doubt is looked up before it is sent again).
    """
    if change_id in _done_here:
        return SendOutcome(change_id, State.DONE)
    taken = _batch_take(change_id)
    if isinstance(taken, SendOutcome):
        return taken
    link, batch = taken
    results, session = _batch_send(link, batch)
    try:
        return _batch_finish(batch, results, session)[change_id]
    except BaseException:
        # The outcomes are lost (the relay finds the batch *sending*); the requests made
        # still count, if the database takes them.
        if session is not None:
            with suppress(DatabaseError):
                session.flush()
        raise


def _batch_take(change_id: int) -> SendOutcome | tuple[Link, list[ProfileChange]]:
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
            state__in=_UNFINISHED,
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
        state__in=_UNFINISHED,
    )


@dataclass
class _Result:
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


#: Marked *sending* but not called: back to the queue, its attempt not counted.
UNSENT = "unsent"
#: Errors of the account, not of one change: the batch stops there.
_BATCH_STOPPERS = (LinkNotUsableError, AuthError, RateLimitedError, BudgetExhaustedError)


def _batch_send(
    link: Link, batch: list[ProfileChange]
) -> tuple[dict[int, _Result], MeteredSession | None]:
    """Send the batch in order on one client; a change whose profile's earlier change in the
    batch did not finish is not sent, nor is anything once :data:`BATCH_SECONDS` are spent."""
    results: dict[int, _Result] = {}
    held: set[int] = set()  # profiles whose earlier change in this batch did not finish
    written: dict[WriteKey, datetime] = {}
    deadline = time.monotonic() + BATCH_SECONDS
    in_flight: ProfileChange | None = None
    session: MeteredSession | None = None
    opened = False
    try:
        # Its counts and log are written by the finish, in its transaction.
        with metered_session(link, max_retries=0, flush_at_exit=False) as session:
            opened = True
            for change in batch:
                if change.copernica_profile_id in held:
                    results[change.pk] = _Result(UNSENT, called=False, again=False)
                    continue
                if time.monotonic() > deadline:
                    break
                in_flight = change
                result = _send_one(session.client, change, written)
                in_flight = None
                results[change.pk] = result
                profile_id = change.copernica_profile_id
                if result.state not in (State.DONE, State.FAILED) and profile_id is not None:
                    held.add(profile_id)
    except LinkNotUsableError as error:
        # Copernica refused the token: nothing more is sent, and the rest would wait anyway.
        state = State.CANCELLED if error.state == LinkState.DISCONNECTED else State.WAITING
        for change in batch:
            if change.pk not in results:
                results[change.pk] = _Result(state, called=change is in_flight)
    except Exception as error:
        if not isinstance(error, CopernicaError | BudgetExhaustedError):
            logger.exception("Sending profile changes of link %s failed unexpectedly", link.pk)
        rest = [change for change in batch if change.pk not in results]
        if not opened:
            # No session, so no call: each change as if its call had failed.
            for change in rest:
                results[change.pk] = _Result(State.QUEUED, error=error)
        elif in_flight is not None:
            # The account's: the call in flight is retried, the rest go after its wait.
            wait = _retry_wait(in_flight.attempts, error)
            results[in_flight.pk] = _Result(State.QUEUED, error=error, countdown=wait)
            for change in rest:
                if change is not in_flight:
                    results[change.pk] = _Result(UNSENT, called=False, countdown=wait)
        # else closing the session failed after the calls: their outcomes stand.
    for change in batch:
        # Not sent within the batch's time: the next task takes it.
        results.setdefault(change.pk, _Result(UNSENT, called=False))
    return results, session


def _send_one(
    client: CopernicaClient, change: ProfileChange, written: dict[WriteKey, datetime]
) -> _Result:
    try:
        outcome = change_send(client, change, own_write=written.get(write_key(change)))
    except _BATCH_STOPPERS:
        raise
    except (BadRequestError, RemovedAtCopernicaError) as error:
        return _Result(State.FAILED, error.message)
    except CopernicaError as error:
        return _Result(State.QUEUED, error=error)
    except Exception as error:
        logger.exception("Profile change %s failed unexpectedly", change.pk)
        return _Result(State.QUEUED, error=error)
    at = timezone.now()
    if isinstance(outcome, Conflict):
        return _Result(State.CONFLICT, conflict=outcome, at=at)
    if change.kind != Kind.DELETE:
        written[write_key(change, outcome)] = at
    return _Result(State.DONE, outcome.note, sent=outcome, at=at)


def _retry_wait(attempts: int, error: BaseException) -> float:
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


def _batch_finish(
    batch: list[ProfileChange], results: dict[int, _Result], session: MeteredSession | None
) -> dict[int, SendOutcome]:
    """Record every outcome of the batch in one transaction: the rows, the mirror, the
    session's request counts and log, and the messages of what goes next."""
    outcomes: dict[int, SendOutcome] = {}
    with transaction.atomic():
        _commit_without_waiting()
        if session is not None:
            session.flush()
        rows = {
            row.pk: row
            for row in ProfileChange.objects.select_for_update().filter(
                pk__in=[change.pk for change in batch]
            )
        }
        recorded: list[ProfileChange] = []
        last_of_profile: dict[int, ProfileChange] = {}
        for change in batch:
            row = rows.get(change.pk)
            if (
                row is None
                or row.state != State.SENDING
                or row.sending_since != change.sending_since
            ):
                # No longer ours (the relay took it back from a worker it thought lost).
                outcomes[change.pk] = SendOutcome(change.pk, row.state if row else "missing")
                continue
            row.database, row.collection = change.database, change.collection
            outcomes[change.pk] = _record(row, results[change.pk])
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
    _done_here.update(o.change_id for o in outcomes.values() if o.state == State.DONE)
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


_done_here = _RecentlyDone(size=10_000)


#: A change in one of these states lets the next change of its profile go.
_LETS_NEXT_GO = (State.DONE, State.FAILED, State.CANCELLED)


def _record(row: ProfileChange, result: _Result) -> SendOutcome:
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
        _wait(row)
        return SendOutcome(row.pk, State.WAITING)
    if result.state == State.CANCELLED:
        _close(row, State.CANCELLED, DISCONNECTED_MESSAGE)
        return SendOutcome(row.pk, State.CANCELLED)
    if result.state == State.CONFLICT:
        assert result.conflict is not None
        row.state = State.CONFLICT
        row.conflict = result.conflict.details
        row.error_message = (
            "Changed at Copernica after it was edited here; nothing was sent. "
            "Send anyway or discard."
        )
        _log(row, "Conflict: Copernica has a newer version; waiting for a decision.")
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
    _close(row, result.state, result.message, at=result.at)
    return SendOutcome(row.pk, row.state)


def _retry_later(row: ProfileChange, error: BaseException, wait: float) -> SendOutcome:
    message = str(getattr(error, "message", "") or error)[:300]
    if row.kind == Kind.CREATE and not isinstance(error, BudgetExhaustedError | RateLimitedError):
        row.in_doubt = True  # it may have reached Copernica
    if row.attempts >= settings.LINKER_WRITE_MAX_ATTEMPTS:
        _close(
            row,
            State.FAILED,
            f"Gave up after {row.attempts} attempts. Copernica said: {message}",
        )
        return SendOutcome(row.pk, State.FAILED)
    wait = wait or _retry_wait(row.attempts, error)
    row.state = State.QUEUED
    row.next_attempt_at = timezone.now() + timedelta(seconds=wait)
    row.error_message = message
    _log(row, f"{type(error).__name__}: {message}; retry in {wait:.2f} s", wait)
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
    rows: list[ProfileChange], *, exclude: dict[int, ProfileChange]
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


def _log(change: ProfileChange, outcome: str, retry_in: float | None = None) -> None:
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


def _close(change: ProfileChange, state: str, message: str, *, at: datetime | None = None) -> None:
    change.state = state
    change.error_message = message[:500]
    change.finished_at = at or timezone.now()
    _log(change, message or state)
    change.sending_since = None


def change_close(change: ProfileChange, state: str, message: str) -> SendOutcome:
    """Finish a change inside the caller's transaction (it holds the row lock), and enqueue the
    next change of its profile."""
    _close(change, state, message)
    change.save()
    next_ids = _next_for_profile(change)
    for next_id in next_ids:
        enqueue(Task.PROFILE_CHANGE_SEND, next_id)
    return SendOutcome(change.pk, state, next_ids=next_ids)


def _wait(change: ProfileChange) -> None:
    change.state = State.WAITING
    change.error_message = WAITING_MESSAGE
    change.next_attempt_at = None
    change.sending_since = None
    _log(change, WAITING_MESSAGE)


def change_wait(change: ProfileChange) -> SendOutcome:
    """Park a change until the link is reconnected (inside the caller's transaction, row
    locked); the changes behind it wait too, as they were made on top of it."""
    _wait(change)
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


# --------------------------------------------------------------------------------- release


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
            _log(change, "The link was reconnected; queued again.")
            change.save()
            released.append(change.pk)
        for change_id in released:
            # In id order; one behind an earlier unfinished change of its profile does nothing
            # now and is enqueued again when that one finishes.
            enqueue(Task.PROFILE_CHANGE_SEND, change_id)
    return released


# ----------------------------------------------------------------------------------- relay


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
        ProfileChange.objects.filter(state=State.WAITING, link__state=LinkState.ACTIVE)
        .exclude(link__access_token_encrypted="")
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
            _log(change, "The worker stopped while sending; queued again.")
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
