"""``demo_setup`` on every demo start: the application follows the sandbox of this start, and a
sandbox that kept its state keeps the tenants' links as the last session left them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from api_client.sandbox import SandboxServer
from api_client.sandbox.control import SandboxControl
from linker.management.commands import demo_setup
from linker.models import ApiApplication, Link

pytestmark = pytest.mark.django_db

REDIRECT = "http://127.0.0.1:8000/oauth/callback"


@pytest.fixture(autouse=True)
def small_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's tenants and states on small accounts, so the first syncs take no time."""
    monkeypatch.setattr(
        demo_setup,
        "DEMO_TENANTS",
        tuple((tenant, account, 20, how) for tenant, account, _, how in demo_setup.DEMO_TENANTS),
    )
    monkeypatch.setattr(
        demo_setup, "DEMO_SHAPES", dict.fromkeys(demo_setup.DEMO_SHAPES, (1, 1, 10))
    )


@pytest.fixture
def sandboxes() -> Iterator[list[SandboxServer]]:
    started: list[SandboxServer] = []
    yield started
    for server in started:
        server.stop()


def start(sandboxes: list[SandboxServer], settings: Any, **kwargs: object) -> str:
    server = SandboxServer("127.0.0.1", 0, **kwargs).start()  # type: ignore[arg-type]
    sandboxes.append(server)
    settings.COPERNICA_SANDBOX_URL = server.url
    return server.url


def setup_demo() -> ApiApplication:
    call_command("demo_setup", "--redirect-uri", REDIRECT, stdout=io.StringIO())
    return ApiApplication.objects.get(name="Copernica sandbox")


def hosts_of(application: ApiApplication) -> dict[str, str]:
    return {
        "authorize_url": application.authorize_url,
        "token_url": application.token_url,
        "auth_url": application.auth_url,
        "api_url": application.api_url,
        "rest_url": application.rest_url,
    }


def sandbox_hosts(url: str) -> dict[str, str]:
    control = SandboxControl(url)
    return {
        "authorize_url": control.authorize_url,
        "token_url": control.token_url,
        "auth_url": control.auth_url,
        "api_url": control.api_url,
        "rest_url": control.rest_url,
    }


def test_the_demo_application_follows_the_sandbox_of_each_start(
    settings: Any, sandboxes: list[SandboxServer]
) -> None:
    first = start(sandboxes, settings)
    application = setup_demo()
    assert hosts_of(application) == sandbox_hosts(first)

    second = start(sandboxes, settings)
    application = setup_demo()
    assert hosts_of(application) == sandbox_hosts(second)
    assert ApiApplication.objects.count() == 1
    # The new sandbox knows the application's credentials, so Connect works there.
    assert [item["client_id"] for item in SandboxControl(second).applications()] == [
        application.client_id
    ]
    for link in Link.objects.all():
        assert (link.auth_url, link.api_url, link.rest_url) == (
            f"{second}/authenticate",
            f"{second}/v4",
            f"{second}/rest/v4",
        )


def test_a_sandbox_that_kept_its_state_keeps_links_and_application_on_another_port(
    settings: Any, sandboxes: list[SandboxServer], tmp_path: Path
) -> None:
    state = tmp_path / "sandbox.json"
    start(sandboxes, settings, state_file=state)
    application = setup_demo()
    tokens = dict(Link.objects.values_list("tenant__name", "token_fingerprint"))
    client_id = application.client_id
    # A tenant the walk disconnected stays disconnected; the restart does not undo it.
    Link.objects.filter(tenant__name="Fietsenwinkel De Ketting").update(state="disconnected")
    sandboxes.pop().stop()

    restarted = start(sandboxes, settings, state_file=state)
    application = setup_demo()
    assert hosts_of(application) == sandbox_hosts(restarted)
    assert application.client_id == client_id
    assert dict(Link.objects.values_list("tenant__name", "token_fingerprint")) == tokens
    assert Link.objects.get(tenant__name="Fietsenwinkel De Ketting").state == "disconnected"
    assert Link.objects.get(tenant__name="Bakkerij Van Dam").state == "needs_reconnect"
    assert len(SandboxControl(restarted).accounts()) == len(demo_setup.DEMO_TENANTS)
