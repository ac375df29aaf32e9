"""``/api/v1/webhooks``: the same endpoints and delivery log as the page, with an admin key of
an agency admin; another agency's ids are "not found"."""

from __future__ import annotations

from typing import Any

import pytest
from standardwebhooks import Webhook

from accounts.models import Role
from linker.models import WebhookDelivery, WebhookEndpoint
from linker.outbound.endpoints import webhook_endpoint_create, webhook_secret
from linker.outbound.sending import webhook_delivery_send
from tests.api.conftest import Api, make_key
from tests.conftest import World
from tests.factories import link_tenant, make_member
from tests.outbound.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(world: World) -> Api:
    return Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)


def test_create_shows_the_secret_once_and_it_signs_the_deliveries(
    world: World, api: Api, receiver: Receiver
) -> None:
    made = api.post(
        "webhooks",
        {"url": receiver.url, "event_types": ["link.connected"], "tenant_id": world.tenant_a1.pk},
    )
    assert made.status_code == 201, made.content
    body = made.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert secret not in endpoint.secret_encrypted
    assert webhook_secret(endpoint) == secret
    assert "secret" not in api.get(f"webhooks/{endpoint.pk}").json()
    assert secret not in api.get("webhooks").content.decode()

    link_tenant(world.tenant_a2)  # filtered out: another tenant
    link_tenant(world.tenant_a1)
    [delivery] = WebhookDelivery.objects.all()
    webhook_delivery_send(delivery_id=delivery.pk)
    [got] = receiver.received
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "link.connected"

    log = api.get(f"webhooks/{endpoint.pk}/deliveries").json()["results"]
    assert [(d["webhook_id"], d["state"], d["last_status_code"]) for d in log] == [
        (delivery.event.msg_id, "succeeded", 200)
    ]
    replayed = api.post(f"webhooks/{endpoint.pk}/deliveries/{delivery.pk}/replay")
    assert replayed.status_code == 202
    assert replayed.json()["state"] == "pending"


def test_a_private_address_is_refused_with_an_error_on_the_url(
    world: World, api: Api, settings: Any
) -> None:
    settings.LINKER_WEBHOOKS_ALLOW_PRIVATE = False
    refused = api.post(
        "webhooks", {"url": "http://169.254.169.254/latest", "event_types": ["sync.failed"]}
    )
    assert refused.status_code == 400
    assert "private network" in refused.json()["errors"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_update_disable_rotate_and_delete(world: World, api: Api, receiver: Receiver) -> None:
    made = webhook_endpoint_create(
        agency=world.agency_a,
        user=world.agency_admin_a,
        url=receiver.url,
        event_types=["sync.failed"],
    )
    path = f"webhooks/{made.endpoint.pk}"
    changed = api.call("PATCH", path, {"event_types": ["sync.succeeded"], "enabled": False})
    assert changed.status_code == 200, changed.content
    assert changed.json()["event_types"] == ["sync.succeeded"]
    assert changed.json()["enabled"] is False
    rotated = api.post(f"{path}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != made.secret
    assert api.call("DELETE", path).status_code == 204
    assert api.get(path).status_code == 404


def test_another_agencys_endpoint_is_not_found_and_keys_need_admin(
    world: World, api: Api, receiver: Receiver
) -> None:
    admin_b = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b)
    theirs = webhook_endpoint_create(
        agency=world.agency_b, user=admin_b, url=receiver.url, event_types=["sync.failed"]
    ).endpoint
    assert api.get(f"webhooks/{theirs.pk}").status_code == 404
    assert api.get(f"webhooks/{theirs.pk + 1000}").status_code == 404
    assert api.get("webhooks").json()["results"] == []
    reader = Api(make_key(agency=world.agency_a, user=world.agency_admin_a, scopes=["read"]).secret)
    assert reader.get("webhooks").status_code == 403
