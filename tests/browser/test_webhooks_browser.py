"""The *Webhooks* page in Chromium: an agency admin adds an endpoint, sees its secret once,
and reads the delivery log (with *Replay*) of an event sent to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from standardwebhooks import Webhook

from linker.models import WebhookDelivery
from linker.outbound.sending import webhook_delivery_send
from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.factories import PASSWORD, link_tenant
from tests.outbound.receiver import Receiver, receiver_running

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiver_running() as running:
        yield running


@pytest.fixture(autouse=True)
def _webhook_settings(settings: Any) -> None:
    # The receiver listens on 127.0.0.1, which production refuses (case 52).
    settings.LINKER_WEBHOOKS_ALLOW_PRIVATE = True


def test_an_admin_adds_an_endpoint_sees_the_secret_once_and_the_delivery_log(
    browser: Browser,
    live_server,  # type: ignore[no-untyped-def]
    world: World,
    receiver: Receiver,
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(world.agency_admin_a.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Webhooks").click()
        expect(
            page.get_by_role("heading", name=f"Webhooks of {world.agency_a.name}")
        ).to_be_visible()

        page.get_by_label("URL").fill(receiver.url)
        page.get_by_role("button", name="Add endpoint").click()
        shown = page.get_by_test_id("new-secret-value")
        expect(shown).to_be_visible()
        secret = shown.input_value()
        assert secret.startswith("whsec_")
        screenshot(page, "webhooks-secret-shown")

        page.goto(page.url)  # a fresh GET (a reload would post the form again)
        expect(page.get_by_test_id("new-secret")).to_have_count(0)
        assert secret not in page.content()

        link_tenant(world.tenant_a1)  # link.connected, sent as a worker would
        delivery = WebhookDelivery.objects.get()
        webhook_delivery_send(delivery_id=delivery.pk)
        [got] = receiver.received
        Webhook(secret).verify(got.body, got.headers)

        page.get_by_role("link", name=receiver.url).click()
        log = page.get_by_test_id("webhook-deliveries")
        row = log.locator(f'tr[data-delivery-id="{delivery.pk}"]')
        expect(row).to_contain_text("link.connected")
        expect(row).to_contain_text("Delivered")
        expect(row).to_contain_text("200")
        screenshot(page, "webhooks-delivery-log")
        row.get_by_role("button", name="Replay").click()
        expect(page.get_by_text("queued to be sent again")).to_be_visible()
        delivery.refresh_from_db()
        assert delivery.state == WebhookDelivery.State.PENDING
    finally:
        context.close()
