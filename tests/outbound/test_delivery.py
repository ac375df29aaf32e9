"""Delivery of outbound webhooks, calling the delivery service the task runs (the logic, with
time moved by ``now``): signed so that ``standardwebhooks`` verifies, retried after 500s and
timeouts with a stable ``webhook-id``, in order per endpoint and tenant, replayed, and the
endpoint disabled after 24 h of failures (reliability.md case 52: retries with backoff)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook

from linker.models import LinkState, SyncState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from linker.outbound.endpoints import NewSecret
from linker.outbound.sending import EXCERPT_BYTES, webhook_delivery_replay, webhook_delivery_send
from tests.conftest import World
from tests.factories import finished_run, link_tenant
from tests.outbound.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db

State = WebhookDelivery.State


def _deliveries() -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.order_by("id"))


def _later(delivery: WebhookDelivery) -> Any:
    """A moment after the delivery's next attempt is due (time moved, not slept)."""
    delivery.refresh_from_db()
    return delivery.next_attempt_at + timedelta(seconds=1)


def test_a_delivery_is_signed_so_that_standardwebhooks_verifies_it(
    world: World, endpoint: NewSecret, receiver: Receiver
) -> None:
    link_tenant(world.tenant_a1)  # a new active link: link.connected
    [delivery] = _deliveries()

    assert webhook_delivery_send(delivery_id=delivery.pk) == 1

    [got] = receiver.received
    payload = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert payload["type"] == "link.connected"
    assert payload["data"]["tenant"] == {"id": world.tenant_a1.pk, "name": "Alpha Bikes"}
    assert got.headers["webhook-id"] == delivery.event.msg_id
    assert got.headers["webhook-signature"].startswith("v1,")
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        State.SUCCEEDED,
        1,
        200,
    )
    # A wrong secret does not verify: the check above can fail.
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)


def test_retried_after_a_500_and_a_timeout_with_the_same_webhook_id_and_never_again_after(
    world: World, endpoint: NewSecret, receiver: Receiver, settings: Any
) -> None:
    """Case 52: retries with backoff, ``webhook-id`` stable; at least once, not more."""
    settings.LINKER_WEBHOOKS_TIMEOUT_SECONDS = 0.5
    receiver.script = [Reply(status=500), Reply(status=200, delay=1.5), Reply(status=204)]
    link_tenant(world.tenant_a1)
    [delivery] = _deliveries()

    webhook_delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    first_wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert delivery.state == State.PENDING
    assert delivery.last_status_code == 500
    # Too early: nothing is sent before the backoff is over.
    assert webhook_delivery_send(delivery_id=delivery.pk) == 0
    webhook_delivery_send(delivery_id=delivery.pk, now=_later(delivery))
    delivery.refresh_from_db()
    second_wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert delivery.state == State.PENDING
    assert "Timed out" in delivery.last_error
    webhook_delivery_send(delivery_id=delivery.pk, now=_later(delivery))
    # A duplicate message after success sends nothing.
    assert webhook_delivery_send(delivery_id=delivery.pk, now=_later(delivery)) == 0

    delivery.refresh_from_db()
    assert delivery.state == State.SUCCEEDED
    assert delivery.attempts == 3
    ids = receiver.ids()
    assert len(ids) == 3
    assert set(ids) == {delivery.event.msg_id}
    for got in receiver.received:
        Webhook(endpoint.secret).verify(got.body, got.headers)
    assert 2.5 <= first_wait <= 5.0
    assert 5.0 <= second_wait <= 10.0
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, None, False),
        (3, 204, True),
    ]
    print(f"case 52: 3 attempts, 1 webhook-id, waits {first_wait:.1f}s then {second_wait:.1f}s")


def test_a_later_event_waits_for_an_earlier_one_of_the_same_endpoint_and_tenant(
    world: World, endpoint: NewSecret, receiver: Receiver
) -> None:
    link_a1 = link_tenant(world.tenant_a1)  # a1: link.connected
    finished_run(link_a1, state=SyncState.SUCCEEDED)  # a1: sync.succeeded
    finished_run(link_a1, state=SyncState.FAILED)  # a1: sync.failed
    link_tenant(world.tenant_a2)  # a2: link.connected
    first, second, third, other = _deliveries()
    receiver.script = [Reply(status=503)]

    webhook_delivery_send(delivery_id=first.pk)  # fails: a1's queue is held
    assert webhook_delivery_send(delivery_id=third.pk) == 0
    assert webhook_delivery_send(delivery_id=second.pk) == 0
    assert webhook_delivery_send(delivery_id=other.pk) == 1  # a2's queue is its own
    # The retry succeeds and the task goes on with a1's queue, in order.
    assert webhook_delivery_send(delivery_id=first.pk, now=_later(first)) == 3

    types = [json.loads(r.body)["type"] for r in receiver.received]
    tenants = [json.loads(r.body)["data"]["tenant"]["id"] for r in receiver.received]
    assert list(zip(types, tenants, strict=True)) == [
        ("link.connected", world.tenant_a1.pk),
        ("link.connected", world.tenant_a2.pk),
        ("link.connected", world.tenant_a1.pk),
        ("sync.succeeded", world.tenant_a1.pk),
        ("sync.failed", world.tenant_a1.pk),
    ]
    assert {d.state for d in _deliveries()} == {State.SUCCEEDED}


def test_replay_sends_the_same_event_again_with_its_webhook_id(
    world: World, endpoint: NewSecret, receiver: Receiver
) -> None:
    link_tenant(world.tenant_a1)
    [delivery] = _deliveries()
    webhook_delivery_send(delivery_id=delivery.pk)

    assert webhook_delivery_replay(delivery=delivery, user=world.agency_admin_a)
    assert delivery.state == State.PENDING
    webhook_delivery_send(delivery_id=delivery.pk)

    first, again = receiver.received
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.body == again.body
    Webhook(endpoint.secret).verify(again.body, again.headers)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (State.SUCCEEDED, 2)


def test_an_endpoint_failing_for_24_hours_is_disabled_and_its_admins_told(
    world: World, endpoint: NewSecret, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.default = Reply(status=500, body=b"x" * 5000)
    link_tenant(world.tenant_a1)
    [delivery] = _deliveries()
    start = timezone.now()

    webhook_delivery_send(delivery_id=delivery.pk, now=start)
    webhook_delivery_send(delivery_id=delivery.pk, now=start + timedelta(hours=12))
    endpoint.endpoint.refresh_from_db()
    assert endpoint.endpoint.enabled
    with django_capture_on_commit_callbacks(execute=True):
        webhook_delivery_send(delivery_id=delivery.pk, now=start + timedelta(hours=24, minutes=1))

    endpoint.endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert not endpoint.endpoint.enabled
    assert "24 hours" in endpoint.endpoint.disabled_reason
    assert delivery.state == State.FAILED
    assert delivery.attempts == 3
    [email] = [m for m in mail.outbox if "disabled" in m.subject]
    assert email.to == [world.agency_admin_a.email]
    # Only the start of each answer is kept.
    assert all(len(a.response_excerpt) <= EXCERPT_BYTES for a in WebhookAttempt.objects.all())
    # A disabled endpoint is sent nothing more, and new events are not written for it.
    link = world.tenant_a1.link
    link.state = LinkState.NEEDS_RECONNECT
    link.save()
    assert WebhookDelivery.objects.count() == 1
    assert webhook_delivery_send(delivery_id=delivery.pk, now=start + timedelta(hours=30)) == 0
    assert len(receiver.received) == 3
    assert WebhookEndpoint.objects.filter(pk=endpoint.endpoint.pk, enabled=False).exists()


def test_a_failure_inside_a_batch_holds_the_rest_unattempted(
    world: World, endpoint: NewSecret, receiver: Receiver
) -> None:
    link = link_tenant(world.tenant_a1)
    for _ in range(3):
        finished_run(link, state=SyncState.SUCCEEDED)
    first, second, third, fourth = _deliveries()
    receiver.script = [Reply(status=200), Reply(status=500)]

    assert webhook_delivery_send(delivery_id=first.pk) == 2

    states = [(d.state, d.attempts) for d in _deliveries()]
    assert states == [
        (State.SUCCEEDED, 1),
        (State.PENDING, 1),
        (State.PENDING, 0),
        (State.PENDING, 0),
    ]
    assert all(d.first_attempt_at is None for d in (_deliveries()[2], _deliveries()[3]))
    assert webhook_delivery_send(delivery_id=third.pk) == 0  # still behind the failed one
    assert webhook_delivery_send(delivery_id=second.pk, now=_later(second)) == 3
    assert [r.headers["webhook-id"] for r in receiver.received] == [
        d.event.msg_id for d in (first, second, second, third, fourth)
    ]
