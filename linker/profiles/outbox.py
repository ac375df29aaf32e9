"""The outbox: sending queued profile and subprofile changes to Copernica, once each, in order.

A relay (beat) re-sends any whose message was lost (Redis down, a worker killed).
``profile_change_send`` is safe to deliver twice: the row is locked and moved
queued → sending → done, so a second delivery finds nothing to do; the call to Copernica is
made outside the transaction (:mod:`linker.profiles.sending`), and the row is locked again to
record the outcome and show it in the mirror (:mod:`linker.profiles.mirroring`).

Order per profile is kept: a change is not sent while an earlier change of the same profile
(or of one of its subprofiles: a subprofile change carries its parent's id) is unfinished;
finishing one enqueues the next. A change in *conflict* counts as unfinished: the changes made
after it wait until someone sends it anyway or discards it, since they were made on top of it.
The relay never re-sends a conflict, nor what waits behind one.

While the link needs reconnecting a change *waits* (it is neither sent nor cancelled), and so
do the changes behind it. Once the link is usable again (``link_store_token`` enqueues
``profile_changes_release``; the relay catches a lost message) the waiting changes are queued
again in the order they were made. A disconnected link cancels its changes instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from accounts.selectors import can_edit_profiles
from api_client import BadRequestError, CopernicaError, RateLimitedError
from linker.linking.client import metered_session
from linker.linking.errors import LinkNotUsableError
from linker.models import Link, LinkState, ProfileChange
from linker.platform.delivery import Task, enqueue, publish, retry_delay
from linker.platform.ratelimit import BudgetExhaustedError
from linker.profiles.mirroring import mirror_apply
from linker.profiles.sending import Conflict, RemovedAtCopernicaError, change_send

logger = logging.getLogger(__name__)

Kind = ProfileChange.Kind
State = ProfileChange.State
#: What a later change of the same profile waits for.
_UNFINISHED = (State.QUEUED, State.WAITING, State.SENDING, State.CONFLICT)
WAITING_MESSAGE = "Waiting: the Copernica link needs reconnecting; sent once someone reconnects."
DISCONNECTED_MESSAGE = "Cancelled: the Copernica link was disconnected."


@dataclass
class SendOutcome:
    """What a send left to do: retry this change later, and/or start the next ones."""

    change_id: int
    state: str
    retry_in: float | None = None
    next_ids: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------- sending


def profile_change_send(*, change_id: int) -> SendOutcome:
    """Send one change to Copernica and record the outcome. Safe to deliver twice."""
    now = timezone.now()
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
        user = change.created_by
        if user is None or not can_edit_profiles(user=user, tenant=change.link.tenant):
            return change_close(change, State.CANCELLED, "Cancelled: its author lost access.")
        if not change.link.is_usable:
            if change.link.state == LinkState.DISCONNECTED:
                return change_close(change, State.CANCELLED, DISCONNECTED_MESSAGE)
            return change_wait(change)
        change.state = State.SENDING
        change.attempts += 1
        change.sending_since = now
        change.save(update_fields=["state", "attempts", "sending_since"])

    try:
        with metered_session(change.link, max_retries=0) as session:
            outcome = change_send(session.client, change)
    except (BadRequestError, RemovedAtCopernicaError) as error:
        return _finish(change, State.FAILED, error.message)
    except LinkNotUsableError as error:
        return _wait_after_send(change, error)
    except (CopernicaError, BudgetExhaustedError) as error:
        return _retry_later(change, error)
    except Exception as error:
        logger.exception("Profile change %s failed unexpectedly", change_id)
        return _retry_later(change, error)
    if isinstance(outcome, Conflict):
        return _hold(change, outcome)
    return _finish(
        change,
        State.DONE,
        outcome.note,
        profile_id=outcome.profile_id,
        subprofile_id=outcome.subprofile_id,
    )


def _earlier_unfinished() -> QuerySet[ProfileChange]:
    """The unfinished changes made before the outer change to the same profile."""
    return ProfileChange.objects.filter(
        link_id=OuterRef("link_id"),
        copernica_profile_id=OuterRef("copernica_profile_id"),
        id__lt=OuterRef("pk"),
        state__in=_UNFINISHED,
    )


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


def change_close(change: ProfileChange, state: str, message: str) -> SendOutcome:
    """Finish a change inside the caller's transaction (it holds the row lock), and enqueue the
    next change of its profile."""
    change.state = state
    change.error_message = message[:500]
    change.finished_at = timezone.now()
    _log(change, message or state)
    change.sending_since = None
    change.save()
    next_ids = _next_for_profile(change)
    for next_id in next_ids:
        enqueue(Task.PROFILE_CHANGE_SEND, next_id)
    return SendOutcome(change.pk, state, next_ids=next_ids)


def change_wait(change: ProfileChange) -> SendOutcome:
    """Park a change until the link is reconnected (inside the caller's transaction, row
    locked); the changes behind it wait too, as they were made on top of it."""
    change.state = State.WAITING
    change.error_message = WAITING_MESSAGE
    change.next_attempt_at = None
    change.sending_since = None
    _log(change, WAITING_MESSAGE)
    change.save()
    return SendOutcome(change.pk, State.WAITING)


def _wait_after_send(change: ProfileChange, error: LinkNotUsableError) -> SendOutcome:
    """Copernica refused the token (nothing was written): wait for the reconnect."""
    with transaction.atomic():
        current = ProfileChange.objects.select_for_update().get(pk=change.pk)
        if current.state != State.SENDING:
            return SendOutcome(change.pk, current.state)
        if error.state == LinkState.DISCONNECTED:
            return change_close(current, State.CANCELLED, DISCONNECTED_MESSAGE)
        return change_wait(current)


def _finish(
    change: ProfileChange,
    state: str,
    message: str,
    *,
    profile_id: int | None = None,
    subprofile_id: int | None = None,
) -> SendOutcome:
    with transaction.atomic():
        _commit_without_waiting()
        current = (
            ProfileChange.objects.select_for_update(of=("self",))
            .select_related("database", "collection")
            .get(pk=change.pk)
        )
        if current.state != State.SENDING:
            return SendOutcome(change.pk, current.state)
        if profile_id is not None:
            current.copernica_profile_id = profile_id
        if subprofile_id is not None:
            current.copernica_subprofile_id = subprofile_id
        current.in_doubt = False
        if state == State.DONE:
            mirror_apply(current)
        return change_close(current, state, message)


def _commit_without_waiting() -> None:
    """Let the caller's transaction commit without waiting for its WAL to reach the disk.

    For the outcome of a call only (never for *sending*, which must be on disk before the
    call): only a crash of PostgreSQL itself can lose it, and that is a worker lost after the
    call, which the outbox survives already: the change stays *sending*, the relay queues it
    again (a create in doubt, looked up before it is sent again; an update sent again, its
    conflict check finding Copernica holding its values; a delete finding the profile gone).
    Saves a WAL flush per change (~1 ms on the bench's machine), as the sync engine's pages do.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")


def _hold(change: ProfileChange, conflict: Conflict) -> SendOutcome:
    """Stop an update that found Copernica newer than its base: nothing was sent."""
    with transaction.atomic():
        current = ProfileChange.objects.select_for_update().get(pk=change.pk)
        if current.state != State.SENDING:
            return SendOutcome(change.pk, current.state)
        current.state = State.CONFLICT
        current.conflict = conflict.details
        current.error_message = (
            "Changed at Copernica after it was edited here; nothing was sent. "
            "Send anyway or discard."
        )
        _log(current, "Conflict: Copernica has a newer version; waiting for a decision.")
        current.sending_since = None
        current.save()
    return SendOutcome(change.pk, State.CONFLICT)


def _retry_later(change: ProfileChange, error: BaseException) -> SendOutcome:
    with transaction.atomic():
        current = ProfileChange.objects.select_for_update().get(pk=change.pk)
        if current.state != State.SENDING:
            return SendOutcome(change.pk, current.state)
        message = str(getattr(error, "message", "") or error)[:300]
        if current.kind == Kind.CREATE and not isinstance(
            error, BudgetExhaustedError | RateLimitedError
        ):
            current.in_doubt = True  # it may have reached Copernica
        if current.attempts >= settings.LINKER_WRITE_MAX_ATTEMPTS:
            return change_close(
                current,
                State.FAILED,
                f"Gave up after {current.attempts} attempts. Copernica said: {message}",
            )
        wait = retry_delay(current.attempts)
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            # A 429's Retry-After already emptied the account's budget (metered_session).
            wait = max(wait, float(retry_after))
        current.state = State.QUEUED
        current.next_attempt_at = timezone.now() + timedelta(seconds=wait)
        current.error_message = message
        _log(current, f"{type(error).__name__}: {message}; retry in {wait:.2f} s", wait)
        current.sending_since = None
        current.save()
        enqueue(Task.PROFILE_CHANGE_SEND, current.pk, countdown=wait)
    return SendOutcome(change.pk, State.QUEUED, retry_in=wait)


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
