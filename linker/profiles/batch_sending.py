"""Sending a batch of the outbox: ``profile_change_send`` takes a batch
(:mod:`linker.profiles.batch_taking`), sends it in order on one client outside any transaction,
and records the outcomes (:mod:`linker.profiles.batch_finishing`). The design is in
:mod:`linker.profiles.outbox`.
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from api_client import (
    AuthError,
    BadRequestError,
    CopernicaClient,
    CopernicaError,
    RateLimitedError,
)
from linker.linking.client import MeteredSession, metered_session
from linker.linking.errors import LinkNotUsableError
from linker.models import Link, LinkState, ProfileChange
from linker.platform.ratelimit import BudgetExhaustedError
from linker.profiles.batch_finishing import (
    UNSENT,
    ChangeResult,
    batch_finish,
    recently_done,
    retry_wait,
)
from linker.profiles.batch_taking import batch_take
from linker.profiles.outbox import Kind, SendOutcome, State
from linker.profiles.sending import (
    Conflict,
    RemovedAtCopernicaError,
    WriteKey,
    change_send,
    write_key,
)

logger = logging.getLogger(__name__)

#: Errors of the account, not of one change: the batch stops there.
_BATCH_STOPPERS = (LinkNotUsableError, AuthError, RateLimitedError, BudgetExhaustedError)


def profile_change_send(*, change_id: int) -> SendOutcome:
    """Send a queued change to Copernica, with the other changes of its link that may go now,
    and record the outcomes; returns this change's. Safe to deliver twice.

    A batch (:data:`~linker.profiles.batch_taking.BATCH_SIZE` at most, in id order) is marked
    *sending* in one transaction, sent on one client within ``LINKER_WRITE_BATCH_SECONDS``, and
    finished in one transaction: those not sent in time go back to the queue. A worker killed
    meanwhile leaves them *sending*, which the relay queues again (a create in doubt is looked
    up before it is sent again).
    """
    if change_id in recently_done:
        return SendOutcome(change_id, State.DONE)
    taken = batch_take(change_id)
    if isinstance(taken, SendOutcome):
        return taken
    link, batch = taken
    results, session = _batch_send(link, batch)
    try:
        return batch_finish(batch, results, session)[change_id]
    except BaseException:
        # The outcomes are lost (the relay finds the batch *sending*); the requests made
        # still count, if the database takes them.
        if session is not None:
            with suppress(DatabaseError):
                session.flush()
        raise


def _batch_send(
    link: Link, batch: list[ProfileChange]
) -> tuple[dict[int, ChangeResult], MeteredSession | None]:
    """Send the batch in order on one client; a change whose profile's earlier change in the
    batch did not finish is not sent, nor is anything once ``LINKER_WRITE_BATCH_SECONDS`` are
    spent."""
    results: dict[int, ChangeResult] = {}
    held: set[int] = set()  # profiles whose earlier change in this batch did not finish
    written: dict[WriteKey, datetime] = {}
    deadline = time.monotonic() + settings.LINKER_WRITE_BATCH_SECONDS
    in_flight: ProfileChange | None = None
    session: MeteredSession | None = None
    opened = False
    try:
        # Its counts and log are written by the finish, in its transaction.
        with metered_session(link, max_retries=0, flush_at_exit=False) as session:
            opened = True
            for change in batch:
                if change.copernica_profile_id in held:
                    results[change.pk] = ChangeResult(UNSENT, called=False, again=False)
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
                results[change.pk] = ChangeResult(state, called=change is in_flight)
    except Exception as error:
        if not isinstance(error, CopernicaError | BudgetExhaustedError):
            logger.exception("Sending profile changes of link %s failed unexpectedly", link.pk)
        rest = [change for change in batch if change.pk not in results]
        if not opened:
            # No session, so no call: each change as if its call had failed.
            for change in rest:
                results[change.pk] = ChangeResult(State.QUEUED, error=error)
        elif in_flight is not None:
            # The account's: the call in flight is retried, the rest go after its wait.
            wait = retry_wait(in_flight.attempts, error)
            results[in_flight.pk] = ChangeResult(State.QUEUED, error=error, countdown=wait)
            for change in rest:
                if change is not in_flight:
                    results[change.pk] = ChangeResult(UNSENT, called=False, countdown=wait)
        # else closing the session failed after the calls: their outcomes stand.
    for change in batch:
        # Not sent within the batch's time: the next task takes it.
        results.setdefault(change.pk, ChangeResult(UNSENT, called=False))
    return results, session


def _send_one(
    client: CopernicaClient, change: ProfileChange, written: dict[WriteKey, datetime]
) -> ChangeResult:
    try:
        outcome = change_send(client, change, own_write=written.get(write_key(change)))
    except _BATCH_STOPPERS:
        raise
    except (BadRequestError, RemovedAtCopernicaError) as error:
        return ChangeResult(State.FAILED, error.message)
    except CopernicaError as error:
        return ChangeResult(State.QUEUED, error=error)
    except Exception as error:
        logger.exception("Profile change %s failed unexpectedly", change.pk)
        return ChangeResult(State.QUEUED, error=error)
    at = timezone.now()
    if isinstance(outcome, Conflict):
        return ChangeResult(State.CONFLICT, conflict=outcome, at=at)
    if change.kind != Kind.DELETE:
        written[write_key(change, outcome)] = at
    return ChangeResult(State.DONE, outcome.note, sent=outcome, at=at)
