"""Events for the outbound webhooks, written in the transaction of their cause.

A link, a sync run or a profile change that moves to a state an agency may subscribe to writes
one ``WebhookEvent`` and one ``WebhookDelivery`` per endpoint that wants it, in the same
transaction as the move: if the move rolls back, so does the event, and an event that
committed is delivered at least once. The moves are ``save()`` calls spread over the domains,
so ``post_init`` remembers the state an instance was loaded with and ``post_save`` (both
connected in ``linker.apps``) compares; the one bulk write (the outbox's batch of results)
calls :func:`webhook_events_from_rows` beside its ``bulk_update``.

Nothing is written when no enabled endpoint of the agency subscribes: one query per move.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Model, Subquery
from django.utils import timezone

from accounts.models import Tenant
from linker.models import (
    Link,
    LinkState,
    ProfileChange,
    SyncRun,
    SyncState,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from linker.platform.delivery import Task, enqueue

#: Where ``post_init`` keeps the state an instance was loaded with.
_LOADED = "_webhook_loaded_state"
_UNKNOWN = object()

_LINK_EVENTS: dict[str, str] = {
    LinkState.ACTIVE: WebhookEventType.LINK_CONNECTED,
    LinkState.NEEDS_RECONNECT: WebhookEventType.LINK_NEEDS_RECONNECT,
    LinkState.DISCONNECTED: WebhookEventType.LINK_DISCONNECTED,
}
_SYNC_EVENTS: dict[str, str] = {
    SyncState.SUCCEEDED: WebhookEventType.SYNC_SUCCEEDED,
    SyncState.FAILED: WebhookEventType.SYNC_FAILED,
}
_CHANGE_EVENTS: dict[str, str] = {
    ProfileChange.State.DONE: WebhookEventType.PROFILE_CHANGE_DONE,
    ProfileChange.State.FAILED: WebhookEventType.PROFILE_CHANGE_FAILED,
    ProfileChange.State.CONFLICT: WebhookEventType.PROFILE_CHANGE_CONFLICT,
}
TRACKED_MODELS: tuple[type[Model], ...] = (Link, SyncRun, ProfileChange)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _link_data(link: Link, before: str | None) -> dict[str, Any]:
    return {
        "link": {
            "state": link.state,
            "previous_state": before,
            "reason": link.state_reason,
            "copernica_account_id": link.copernica_account_id,
        }
    }


def _run_data(run: SyncRun, before: str | None) -> dict[str, Any]:
    return {
        "sync_run": {
            "id": run.pk,
            "mode": run.mode,
            "trigger": run.trigger,
            "state": run.state,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "fetched": run.fetched,
            "created": run.created_count,
            "updated": run.updated_count,
            "removed": run.removed_count,
            "error": run.error_message,
        }
    }


def _change_data(change: ProfileChange, before: str | None) -> dict[str, Any]:
    return {
        "profile_change": {
            "id": change.pk,
            "kind": change.kind,
            "state": change.state,
            "previous_state": before,
            "copernica_profile_id": change.copernica_profile_id,
            "copernica_subprofile_id": change.copernica_subprofile_id,
            "attempts": change.attempts,
            "error": change.error_message,
        }
    }


def _event_of(instance: Model, before: str | None) -> tuple[str, int, dict[str, Any]] | None:
    """(event type, link id, data) for an instance whose state moved from ``before``."""
    state = str(getattr(instance, "state", ""))
    if isinstance(instance, Link):
        kind = _LINK_EVENTS.get(state)
        return (kind, instance.pk, _link_data(instance, before)) if kind else None
    if isinstance(instance, SyncRun):
        kind = _SYNC_EVENTS.get(state)
        return (kind, instance.link_id, _run_data(instance, before)) if kind else None
    if isinstance(instance, ProfileChange):
        kind = _CHANGE_EVENTS.get(state)
        return (kind, instance.link_id, _change_data(instance, before)) if kind else None
    return None


def on_model_init(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """``post_init``: remember the state loaded (unknown when the field was deferred)."""
    instance.__dict__[_LOADED] = instance.__dict__.get("state", _UNKNOWN)


def webhook_states_stored(rows: Iterable[Model]) -> None:
    """Rows whose ``state`` a bulk ``update()`` just wrote as they hold it: the next event of
    each compares with that state, as if the row had been loaded again (an outbox batch's
    changes after its take: moved from *sending*, not from *queued*)."""
    for row in rows:
        row.__dict__[_LOADED] = row.__dict__.get("state", _UNKNOWN)


def _moved(instance: Model, *, created: bool) -> tuple[bool, str | None]:
    before = None if created else instance.__dict__.get(_LOADED, _UNKNOWN)
    after = instance.__dict__.get("state", _UNKNOWN)
    instance.__dict__[_LOADED] = after
    if before is _UNKNOWN or after is _UNKNOWN or before == after:
        return False, None
    return True, before if isinstance(before, str) else None


def on_model_saved(
    sender: type[Model],
    instance: Model,
    created: bool = False,
    update_fields: Iterable[str] | None = None,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """``post_save``: an event when the saved state differs from the one loaded."""
    if raw or (update_fields is not None and "state" not in update_fields):
        return
    moved, before = _moved(instance, created=created)
    if moved:
        found = _event_of(instance, before)
        if found is not None:
            event_type, link_id, data = found
            webhook_events_record(event_type=event_type, link_id=link_id, data=data)


def webhook_events_from_rows(rows: Iterable[Model]) -> int:
    """Events for rows just written by ``bulk_update`` (which sends no ``post_save``), compared
    with the states they were loaded with. Call in the same transaction. Returns how many."""
    written = 0
    endpoints_of: dict[int, list[WebhookEndpoint]] = {}
    for row in rows:
        moved, before = _moved(row, created=False)
        found = _event_of(row, before) if moved else None
        if found is None:
            continue
        event_type, link_id, data = found
        if link_id not in endpoints_of:
            endpoints_of[link_id] = _endpoints_of_link(link_id)
        written += webhook_events_record(
            event_type=event_type, link_id=link_id, data=data, endpoints=endpoints_of[link_id]
        )
    return written


def _endpoints_of_link(link_id: int) -> list[WebhookEndpoint]:
    agency = Tenant.objects.filter(link__id=link_id).values("agency_id")[:1]
    return list(WebhookEndpoint.objects.filter(enabled=True, agency_id=Subquery(agency)))


def event_body(*, event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The JSON sent, in the Standard Webhooks shape: ``type``, ``timestamp``, ``data``."""
    envelope = {"type": event_type, "timestamp": at.isoformat(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, default=str)


def webhook_events_record(
    *,
    event_type: str,
    link_id: int,
    data: dict[str, Any],
    endpoints: list[WebhookEndpoint] | None = None,
) -> int:
    """Write ``event_type`` about the tenant of link ``link_id`` for every enabled endpoint of
    its agency that subscribed (and whose tenant filter lets it through), in the caller's
    transaction; deliveries are enqueued once it commits. Returns the deliveries written."""
    if not transaction.get_connection().in_atomic_block:
        # The cause was saved in autocommit mode (already committed): its event right after.
        with transaction.atomic():
            return webhook_events_record(
                event_type=event_type, link_id=link_id, data=data, endpoints=endpoints
            )
    if endpoints is None:
        endpoints = _endpoints_of_link(link_id)
    if not endpoints:
        return 0
    tenant = Tenant.objects.filter(link__id=link_id).values("id", "name", "agency_id").first()
    if tenant is None:
        return 0
    wanted = [
        e
        for e in endpoints
        if event_type in (e.event_types or []) and e.tenant_id in (None, tenant["id"])
    ]
    if not wanted:
        return 0
    # Queues already under way: their head hands over to the new delivery when it finishes.
    # The endpoints' rows are locked (in id order) as a finishing delivery locks its endpoint:
    # so it either finished before (and the queue is idle here) or sees the new delivery.
    list(
        WebhookEndpoint.objects.select_for_update()
        .filter(pk__in=[e.pk for e in wanted])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    busy = set(
        WebhookDelivery.objects.filter(
            endpoint__in=wanted,
            tenant_id=tenant["id"],
            state__in=(WebhookDelivery.State.PENDING, WebhookDelivery.State.SENDING),
        ).values_list("endpoint_id", flat=True)
    )
    at = timezone.now()
    full = {"tenant": {"id": tenant["id"], "name": tenant["name"]}, **data}
    event = WebhookEvent.objects.create(
        agency_id=tenant["agency_id"],
        tenant_id=tenant["id"],
        type=event_type,
        body=event_body(event_type=event_type, at=at, data=full),
        created_at=at,
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, event=event, tenant_id=tenant["id"], next_attempt_at=at)
        for endpoint in wanted
    )
    for delivery in deliveries:
        # Only a new head is enqueued; the relay (beat) covers a message lost on the way.
        if delivery.endpoint_id not in busy:
            enqueue(Task.WEBHOOK_DELIVERY_SEND, delivery.pk)
    return len(deliveries)
