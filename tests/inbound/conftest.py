"""Linked sandbox accounts with Copernica's webhooks registered at this linker (issue 17).

``hooked(...)`` links a sandbox account, mirrors it with a full sync and registers its
webhooks with handler URLs under ``LINKER_BASE_URL``; the sandbox's key host is trusted, as
``scripts/demo.sh`` does. Tests that need the sandbox to reach the receiver also take
``live_server`` and point ``LINKER_BASE_URL`` at it (see ``served``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from api_client.sandbox.control import SandboxControl
from linker.inbound.applying import inbound_events_apply
from linker.inbound.registration import handler_url, inbound_webhooks_register
from linker.models import InboundEvent, InboundLink, WebhookHealth
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked
from tests.workers import wait_for

WAIT = 15.0


@dataclass
class Hooked:
    """A linked, mirrored account whose webhooks call this linker."""

    linked: Linked
    inbound: InboundLink
    sandbox: SandboxControl

    @property
    def link_id(self) -> int:
        return self.linked.link.pk

    @property
    def url(self) -> str:
        return handler_url(self.inbound)

    def events(self, **filters: Any) -> int:
        return InboundEvent.objects.filter(link_id=self.link_id, **filters).count()

    def settle(self) -> None:
        """Wait until the sandbox has sent (or given up on) every delivery."""
        assert self.sandbox.wait_webhooks(WAIT), "the sandbox still has deliveries in flight"

    def apply(self) -> int:
        return inbound_events_apply(link_id=self.link_id)

    def gap_check(self) -> None:
        """An incremental run, as the schedule starts it, run in the foreground."""
        run, _ = sync_run_request(link=self.linked.link, mode="incremental", enqueue=False)
        assert sync_run_foreground(run=run).state == "succeeded"

    def refused(self) -> int:
        return InboundLink.objects.get(pk=self.inbound.pk).refused_count

    def wait_events(self, count: int, **filters: Any) -> None:
        wait_for(
            lambda: self.events(**filters) >= count,
            timeout=WAIT,
            what=f"{count} inbox events {filters}",
        )


@pytest.fixture
def trust_sandbox_keys(settings: Any, sandbox: SandboxControl) -> None:
    settings.LINKER_WEBHOOK_KEY_HOSTS = [
        "*.copernica.com",
        sandbox.base_url.removeprefix("http://"),
    ]


@pytest.fixture
def hooked(
    linked: Callable[..., Linked],
    sandbox: SandboxControl,
    trust_sandbox_keys: None,
    db: None,
) -> Callable[..., Hooked]:
    # A handler that fails is tried once more, quickly: no test waits out 30 s retries.
    sandbox.set_webhook_options(retry_delays_ms=[100])

    def make(profiles: int = 20, *, register: bool = True, **shape: int) -> Hooked:
        account = linked(profiles=profiles, **shape)
        run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
        assert sync_run_foreground(run=run).state == "succeeded"
        if not register:
            return Hooked(account, InboundLink.objects.create(link=account.link), sandbox)
        inbound = inbound_webhooks_register(link=account.link)
        assert inbound is not None
        assert inbound.state == WebhookHealth.HEALTHY, inbound.state_reason
        return Hooked(account, inbound, sandbox)

    return make


@pytest.fixture
def served(settings: Any, live_server: Any) -> str:
    """The live server's URL, as ``LINKER_BASE_URL``: the sandbox calls the real receiver."""
    settings.LINKER_BASE_URL = live_server.url
    return str(live_server.url)
