"""The SSRF guard (reliability.md case 52): webhook URLs on loopback, private, link-local or
metadata addresses are refused when saved and when sent, also when a name resolves to one, and
redirects are never followed."""

from __future__ import annotations

from typing import Any

import pytest

from linker.models import WebhookDelivery
from linker.outbound.addresses import webhook_target_resolve, webhook_url_clean
from linker.outbound.endpoints import NewSecret, webhook_endpoint_create
from linker.outbound.errors import WebhookUrlError
from linker.outbound.sending import webhook_delivery_send
from linker.platform.errors import InvalidInputError
from tests.conftest import World
from tests.factories import link_tenant
from tests.outbound.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.8.9.10:8080/hook",
    "http://localhost/hook",  # a name that resolves to loopback
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://0.0.0.0/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one number, resolved by the system
]


def test_private_addresses_are_refused_when_an_endpoint_is_saved(
    world: World, settings: Any
) -> None:
    """Case 52: every URL of the list refused, nothing saved."""
    settings.LINKER_WEBHOOKS_ALLOW_PRIVATE = False
    refused = 0
    for url in REFUSED:
        with pytest.raises(InvalidInputError) as caught:
            webhook_endpoint_create(
                agency=world.agency_a,
                user=world.agency_admin_a,
                url=url,
                event_types=["sync.failed"],
            )
        assert "private network" in caught.value.field_errors["url"][0], url
        refused += 1
    assert world.agency_a.webhook_endpoints.count() == 0
    print(f"case 52: {refused}/{len(REFUSED)} private-address URLs refused at creation")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "http://user:pw@example.com/", "https:///nohost", "http://exa mple/"],
)
def test_malformed_urls_are_refused_with_a_message_for_the_url_field(url: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        webhook_url_clean(url)
    assert list(caught.value.field_errors) == ["url"]


def test_production_takes_https_only(settings: Any) -> None:
    settings.PRODUCTION = True
    with pytest.raises(WebhookUrlError, match="https"):
        webhook_url_clean("http://hooks.example.com/in")
    assert webhook_url_clean("https://hooks.example.com/in") == "https://hooks.example.com/in"


def test_the_address_is_checked_again_at_send_time(
    world: World, endpoint: NewSecret, receiver: Receiver, settings: Any
) -> None:
    """Case 52: saved while allowed, refused at send time: nothing reaches the receiver, the
    delivery waits for a retry with the same webhook-id."""
    link_tenant(world.tenant_a1)
    [delivery] = WebhookDelivery.objects.all()
    settings.LINKER_WEBHOOKS_ALLOW_PRIVATE = False

    webhook_delivery_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert receiver.received == []
    assert delivery.state == WebhookDelivery.State.PENDING
    assert "private network" in delivery.last_error
    assert delivery.next_attempt_at > delivery.last_attempt_at
    print("case 52: send-time check refused 127.0.0.1, 0 requests made")


def test_the_send_dials_the_checked_address_with_the_name_in_host() -> None:
    target = webhook_target_resolve("http://localhost:8123/in?x=1")
    assert target.address in ("127.0.0.1", "::1")
    assert target.dial_url.endswith(":8123/in?x=1")
    assert "localhost" not in target.dial_url
    assert target.host_header == "localhost:8123"


def test_redirects_are_not_followed(world: World, endpoint: NewSecret, receiver: Receiver) -> None:
    """Case 52: a 302 to another address is a failed attempt; the target is never asked."""
    receiver.script = [Reply(status=302, location=receiver.url.replace("/hooks", "/elsewhere"))]
    link_tenant(world.tenant_a1)
    [delivery] = WebhookDelivery.objects.all()

    webhook_delivery_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert [r.path for r in receiver.received] == ["/hooks"]
    assert delivery.state == WebhookDelivery.State.PENDING
    assert delivery.last_status_code == 302
    assert "not followed" in delivery.last_error
