"""Fixtures of the outbound webhook tests: a local receiver and an endpoint of agency A."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from linker.outbound.endpoints import NewSecret, webhook_endpoint_create
from tests.conftest import World
from tests.outbound.receiver import Receiver, receiver_running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiver_running() as running:
        yield running


@pytest.fixture(autouse=True)
def _webhook_settings(settings: Any) -> None:
    settings.LINKER_WEBHOOKS_ALLOW_PRIVATE = True
    settings.LINKER_WEBHOOKS_TIMEOUT_SECONDS = 2.0
    settings.LINKER_WEBHOOKS_RETRY_BASE_SECONDS = 5.0


@pytest.fixture
def endpoint(world: World, receiver: Receiver) -> NewSecret:
    """An endpoint of agency A for every event of every tenant, at the receiver."""
    return webhook_endpoint_create(
        agency=world.agency_a,
        user=world.agency_admin_a,
        url=receiver.url,
        event_types=["link.connected", "link.needs_reconnect", "sync.succeeded", "sync.failed"],
    )
