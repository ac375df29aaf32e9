"""The *Webhooks* page as an agency admin: an endpoint made (secret once), a private address
refused next to the URL field, the delivery log with *Replay*; others get 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from linker.models import WebhookDelivery, WebhookEndpoint
from linker.outbound.sending import webhook_delivery_send
from tests.conftest import World
from tests.factories import link_tenant
from tests.outbound.receiver import Receiver

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_makes_an_endpoint_and_sees_its_secret_once(
    world: World, receiver: Receiver
) -> None:
    client = _client(world.agency_admin_a)
    url = reverse("webhooks", kwargs={"agency_id": world.agency_a.pk})
    made = client.post(
        url, {"url": receiver.url, "event_types": ["link.connected", "sync.failed"], "tenant": ""}
    )
    assert made.status_code == 200
    assert made["Cache-Control"] == "no-store"
    secret = made.context["new_secret"].secret
    assert secret in made.content.decode()
    again = client.get(url).content.decode()
    assert receiver.url in again
    assert secret not in again

    endpoint = WebhookEndpoint.objects.get()
    link_tenant(world.tenant_a1)
    delivery = WebhookDelivery.objects.get()
    webhook_delivery_send(delivery_id=delivery.pk)
    detail = reverse(
        "webhook_detail", kwargs={"agency_id": world.agency_a.pk, "endpoint_id": endpoint.pk}
    )
    page = client.get(detail).content.decode()
    assert delivery.event.msg_id in page
    assert "Delivered" in page
    assert "200" in page
    replay = reverse(
        "webhook_replay",
        kwargs={
            "agency_id": world.agency_a.pk,
            "endpoint_id": endpoint.pk,
            "delivery_id": delivery.pk,
        },
    )
    assert client.post(replay).status_code == 303
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.PENDING


def test_a_private_address_is_refused_next_to_the_url_field(world: World, settings: Any) -> None:
    settings.LINKER_WEBHOOKS_ALLOW_PRIVATE = False
    client = _client(world.agency_admin_a)
    url = reverse("webhooks", kwargs={"agency_id": world.agency_a.pk})
    answer = client.post(url, {"url": "http://10.0.0.7/in", "event_types": ["sync.failed"]})
    assert answer.status_code == 200
    assert "private network" in answer.context["form"].errors["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_staff_and_other_agencies_get_404(world: World, receiver: Receiver) -> None:
    url = reverse("webhooks", kwargs={"agency_id": world.agency_a.pk})
    assert _client(world.staff_a).get(url).status_code == 404
    assert _client(world.staff_b).get(url).status_code == 404
