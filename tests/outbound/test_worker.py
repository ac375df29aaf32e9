"""End to end with a real worker: a link state change commits, its event is enqueued after the
commit, and a worker process delivers it, signed, to the receiver."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from linker.models import LinkState, WebhookDelivery
from linker.outbound.endpoints import webhook_endpoint_create
from tests.conftest import World
from tests.factories import link_tenant
from tests.outbound.receiver import Receiver, Reply
from tests.workers import celery_worker, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_delivers_committed_events_in_order_and_retries_a_500(
    world: World, receiver: Receiver
) -> None:
    made = webhook_endpoint_create(
        agency=world.agency_a,
        user=world.agency_admin_a,
        url=receiver.url,
        event_types=["link.connected", "link.needs_reconnect", "link.disconnected"],
    )
    receiver.script = [Reply(status=500)]  # the first attempt fails; its retry comes in ~0.1 s
    env = worker_env(LINKER_WEBHOOKS_ALLOW_PRIVATE="true", LINKER_WEBHOOKS_RETRY_BASE_SECONDS="0.2")
    with celery_worker(queues="notifications", env=env):
        link = link_tenant(world.tenant_a1)
        for state in (LinkState.NEEDS_RECONNECT, LinkState.DISCONNECTED):
            link.state = state
            link.save()
        wait_for(
            lambda: WebhookDelivery.objects.filter(state="succeeded").count() == 3,
            timeout=60,
            what="three deliveries",
        )

    types = [Webhook(made.secret).verify(r.body, r.headers)["type"] for r in receiver.received]
    assert types == [
        "link.connected",
        "link.connected",
        "link.needs_reconnect",
        "link.disconnected",
    ]
    assert receiver.ids()[0] == receiver.ids()[1]  # the retry: same webhook-id
    assert len(set(receiver.ids())) == 3
