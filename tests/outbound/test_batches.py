"""Batches of one endpoint's deliveries: sent in order by one task across claim batches, the
endpoint's address resolved and checked once per batch (every connection of the batch goes to
the checked address), a DNS answer that turns private caught by the next batch, and a failure
anywhere leaving the deliveries behind it pending, unattempted, in order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from linker.models import SyncState, WebhookAttempt, WebhookDelivery
from linker.outbound import sending
from linker.outbound.addresses import Target
from linker.outbound.endpoints import NewSecret
from linker.outbound.errors import WebhookUrlError
from linker.outbound.sending import webhook_delivery_send
from tests.conftest import World
from tests.factories import finished_run, link_tenant
from tests.outbound.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db

State = WebhookDelivery.State


def _queue(world: World, runs: int) -> list[WebhookDelivery]:
    """``runs + 1`` deliveries of tenant a1 (link.connected, then a sync.succeeded per run)."""
    link = link_tenant(world.tenant_a1)
    for _ in range(runs):
        finished_run(link, state=SyncState.SUCCEEDED)
    return list(WebhookDelivery.objects.order_by("id"))


def _runs_received(receiver: Receiver) -> list[Any]:
    return [json.loads(r.body)["data"].get("sync_run", {}).get("id") for r in receiver.received]


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs resolved and checked by the sender, in order (the real check runs)."""
    calls: list[str] = []
    real = sending.webhook_target_resolve

    def counting(url: str) -> Target:
        calls.append(url)
        return real(url)

    monkeypatch.setattr(sending, "webhook_target_resolve", counting)
    return calls


def test_one_task_sends_a_queue_in_order_across_claim_batches(
    world: World,
    endpoint: NewSecret,
    receiver: Receiver,
    resolved: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sending, "CLAIM_BATCH", 2)
    deliveries = _queue(world, runs=6)

    assert webhook_delivery_send(delivery_id=deliveries[0].pk) == 7

    assert receiver.ids() == [d.event.msg_id for d in deliveries]
    assert {d.state for d in WebhookDelivery.objects.all()} == {State.SUCCEEDED}
    assert WebhookAttempt.objects.count() == 7
    # Four batches of at most two: the address checked once for each, not once per delivery.
    assert resolved == [receiver.url] * 4


def test_a_failure_mid_batch_leaves_the_rest_pending_in_order(
    world: World, endpoint: NewSecret, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sending, "CLAIM_BATCH", 3)
    deliveries = _queue(world, runs=5)
    receiver.script = [Reply(status=200), Reply(status=200), Reply(status=200), Reply(500)]

    assert webhook_delivery_send(delivery_id=deliveries[0].pk) == 4

    rows = list(WebhookDelivery.objects.order_by("id"))
    assert [(d.state, d.attempts) for d in rows] == [
        (State.SUCCEEDED, 1),
        (State.SUCCEEDED, 1),
        (State.SUCCEEDED, 1),
        (State.PENDING, 1),  # failed: waits for its retry
        (State.PENDING, 0),  # claimed with it, given back unattempted
        (State.PENDING, 0),
    ]
    assert (rows[4].first_attempt_at, rows[4].sending_since) == (None, None)
    assert webhook_delivery_send(delivery_id=rows[4].pk) == 0  # still behind the failed one
    assert len(receiver.received) == 4


def test_an_address_that_turns_private_is_caught_by_the_next_batch(
    world: World, endpoint: NewSecret, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DNS answer changes between two batches: the first batch went to the checked
    address, the second is refused before anything is sent and waits for a retry."""
    monkeypatch.setattr(sending, "CLAIM_BATCH", 2)
    deliveries = _queue(world, runs=3)
    real = sending.webhook_target_resolve
    answers = iter([real, None])

    def resolve(url: str) -> Target:
        check = next(answers, None)
        if check is None:
            raise WebhookUrlError("hooks.example.com resolves to 10.0.0.5, a private network.")
        return check(url)

    monkeypatch.setattr(sending, "webhook_target_resolve", resolve)

    assert webhook_delivery_send(delivery_id=deliveries[0].pk) == 3

    rows = list(WebhookDelivery.objects.order_by("id"))
    assert receiver.ids() == [d.event.msg_id for d in deliveries[:2]]
    assert [(d.state, d.attempts) for d in rows] == [
        (State.SUCCEEDED, 1),
        (State.SUCCEEDED, 1),
        (State.PENDING, 1),
        (State.PENDING, 0),
    ]
    assert "private network" in rows[2].last_error
    assert _runs_received(receiver)[0] is None  # link.connected went first
