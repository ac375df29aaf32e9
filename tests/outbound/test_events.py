"""Events are written in the transaction of their cause, for the endpoints that want them."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from linker.models import (
    LinkState,
    ProfileChange,
    RemoteDatabase,
    SyncState,
    WebhookDelivery,
    WebhookEvent,
)
from linker.outbound.endpoints import webhook_endpoint_create
from linker.outbound.events import webhook_events_from_rows
from linker.profiles.batch_finishing import ChangeResult, batch_finish
from linker.profiles.batch_taking import batch_take
from linker.profiles.sending import Sent
from tests.conftest import World
from tests.factories import finished_run, link_tenant
from tests.outbound.receiver import Receiver

pytestmark = pytest.mark.django_db


def _types() -> list[str]:
    return list(WebhookEvent.objects.order_by("id").values_list("type", flat=True))


def test_link_state_changes_write_their_events(world: World, endpoint: object) -> None:
    link = link_tenant(world.tenant_a1)
    link.state = LinkState.NEEDS_RECONNECT
    link.save(update_fields=["state"])
    link.state_reason = "unrelated field only"
    link.save(update_fields=["state_reason"])
    link.save()  # same state: nothing
    fresh = type(link).objects.get(pk=link.pk)
    fresh.state = LinkState.ACTIVE
    fresh.save()

    assert _types() == ["link.connected", "link.needs_reconnect", "link.connected"]
    body = json.loads(WebhookEvent.objects.order_by("id")[1].body)
    assert body["data"]["link"]["previous_state"] == LinkState.ACTIVE


def test_a_cause_rolled_back_leaves_no_event(world: World, endpoint: object) -> None:
    link = link_tenant(world.tenant_a1)

    def cause_then_fail() -> None:
        with transaction.atomic():
            finished_run(link, state=SyncState.FAILED)
            raise RuntimeError("the cause fails")

    with pytest.raises(RuntimeError):
        cause_then_fail()
    assert _types() == ["link.connected"]
    assert WebhookDelivery.objects.count() == 1


def test_only_subscribed_types_and_the_tenant_filter_and_own_agency(
    world: World, receiver: Receiver
) -> None:
    only_a2 = webhook_endpoint_create(
        agency=world.agency_a,
        user=world.agency_admin_a,
        url=receiver.url,
        event_types=["sync.failed"],
        tenant=world.tenant_a2,
    ).endpoint
    link_a1, link_a2 = link_tenant(world.tenant_a1), link_tenant(world.tenant_a2)
    link_b1 = link_tenant(world.tenant_b1)
    finished_run(link_a1, state=SyncState.FAILED)
    finished_run(link_a2, state=SyncState.SUCCEEDED)
    finished_run(link_b1, state=SyncState.FAILED)
    finished_run(link_a2, state=SyncState.FAILED)

    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.endpoint_id, delivery.tenant_id) == (only_a2.pk, world.tenant_a2.pk)
    assert delivery.event.type == "sync.failed"


def test_the_outbox_batch_written_in_bulk_writes_its_events(
    world: World, receiver: Receiver
) -> None:
    webhook_endpoint_create(
        agency=world.agency_a,
        user=world.agency_admin_a,
        url=receiver.url,
        event_types=["profile_change.done", "profile_change.conflict"],
    )
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Main")
    for _ in range(3):
        ProfileChange.objects.create(
            link=link, database=database, kind="update", state=ProfileChange.State.SENDING
        )
    rows = list(ProfileChange.objects.order_by("id"))
    rows[0].state = ProfileChange.State.DONE
    rows[1].state = ProfileChange.State.CONFLICT
    rows[2].state = ProfileChange.State.QUEUED  # not an event
    ProfileChange.objects.bulk_update(rows, ["state"])

    assert webhook_events_from_rows(rows) == 2
    assert _types() == ["profile_change.done", "profile_change.conflict"]
    assert webhook_events_from_rows(rows) == 0  # already counted


def test_the_outbox_finish_says_each_change_moved_from_sending(
    world: World, receiver: Receiver
) -> None:
    webhook_endpoint_create(
        agency=world.agency_a,
        user=world.agency_admin_a,
        url=receiver.url,
        event_types=["profile_change.done"],
    )
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Main")
    changes = [
        ProfileChange.objects.create(
            link=link,
            database=database,
            kind="update",
            copernica_profile_id=n,
            fields={"city": "Delft"},
            created_by=world.agency_admin_a,
        )
        for n in (1, 2)
    ]
    taken = batch_take(changes[0].pk)
    assert isinstance(taken, tuple)
    _link, batch = taken
    assert [change.pk for change in batch] == [change.pk for change in changes]
    results = {
        change.pk: ChangeResult(ProfileChange.State.DONE, sent=Sent(change.copernica_profile_id))
        for change in batch
    }
    batch_finish(batch, results, None)
    bodies = [json.loads(event.body) for event in WebhookEvent.objects.order_by("id")]
    assert [body["data"]["profile_change"]["id"] for body in bodies] == [c.pk for c in changes]
    assert {body["data"]["profile_change"]["previous_state"] for body in bodies} == {"sending"}
    assert {body["data"]["profile_change"]["attempts"] for body in bodies} == {1}
