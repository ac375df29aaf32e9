"""A sandbox application registered for agency A, and helpers to walk the consent page."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client, override_settings
from django.urls import reverse

from api_client.sandbox.control import SandboxAccount, SandboxControl
from linker.models import ApiApplication
from tests.conftest import World
from tests.factories import make_sandbox_application

REDIRECT_URI = "http://testserver/oauth/callback"


@dataclass
class Linking:
    world: World
    sandbox: SandboxControl
    application: ApiApplication
    account: SandboxAccount
    client: Client  # logged in as agency A's staff

    def start(self, client: Client | None = None, tenant_id: int | None = None) -> str:
        """POST Connect; returns Copernica's authorize URL."""
        client = client or self.client
        response = client.post(
            reverse("connect_start", kwargs={"tenant_id": tenant_id or self.world.tenant_a1.pk})
        )
        assert response.status_code == 303, response.content[:300]
        return str(response["Location"])

    def consent(self, authorize_url: str, *, decision: str = "allow") -> dict[str, str]:
        """Answer the sandbox's consent page; returns the callback's query parameters."""
        hidden = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        response = httpx.post(
            authorize_url.split("?")[0],
            data={**hidden, "account": self.account.account_id, "decision": decision},
            follow_redirects=False,
        )
        assert response.status_code in (302, 303), response.text[:300]
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI)
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def sandbox_settings(self):  # type: ignore[no-untyped-def]
        """Point the deployment's Copernica settings at the sandbox (for pasted tokens)."""
        return override_settings(
            COPERNICA_AUTH_URL=self.sandbox.auth_url,
            COPERNICA_API_URL=self.sandbox.api_url,
            COPERNICA_REST_URL=self.sandbox.rest_url,
        )

    def callback(self, params: dict[str, str], client: Client | None = None):  # type: ignore[no-untyped-def]
        return (client or self.client).get(reverse("oauth_callback"), params)


@pytest.fixture
def linking(world: World, sandbox: SandboxControl) -> Linking:
    application = make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri=REDIRECT_URI
    )
    account = sandbox.create_account("Fietsen BV", profiles=3)
    client = Client()
    client.force_login(world.staff_a)
    sandbox.reset_stats()
    return Linking(world, sandbox, application, account, client)
