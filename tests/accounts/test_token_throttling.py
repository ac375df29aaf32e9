"""The pages that accept a secret are throttled (django-ratelimit): connect links and
invitations per client address, pasted API tokens per user and per address (each one is tried
at Copernica). Issue 13's "every token-accepting endpoint"; the reset link is in
test_password_reset.py."""

from __future__ import annotations

from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import SecurityEvent, SecurityEventKind
from api_client.sandbox.control import SandboxControl
from linker.linking.connect_links import connect_link_create
from tests.conftest import World
from tests.factories import make_sandbox_application, make_user


def _requests_at(sandbox: SandboxControl) -> int:
    return sum(sandbox.stats()["requests"].values())


def test_guessing_connect_links_from_one_address_is_throttled(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LINKER_TOKEN_LINK_RATE = "5/h"
    _, token = connect_link_create(tenant=world.tenant_a1, user=world.staff_a)
    guesses = [
        Client().get(reverse("connect_link_open", kwargs={"token": f"guess-{n:040d}"}))
        for n in range(6)
    ]
    real = Client().get(reverse("connect_link_open", kwargs={"token": token}))
    statuses = [r.status_code for r in guesses]
    print(f"throttle: 6 guessed connect links then the real one, 5/h per address: {statuses}, "
          f"{real.status_code}")  # fmt: skip
    assert statuses == [404] * 5 + [429]
    assert real.status_code == 429  # the address is throttled, whichever link it opens
    page = guesses[-1].content.decode()
    assert "connect links opened from this address" in page
    assert token not in page
    other = Client(REMOTE_ADDR="198.51.100.4")
    assert other.get(reverse("connect_link_open", kwargs={"token": token})).status_code == 200
    (event,) = SecurityEvent.objects.filter(kind=SecurityEventKind.THROTTLED)
    assert "connect/" not in event.detail  # the link's path is its secret


def test_guessing_invitation_links_is_throttled(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LINKER_TOKEN_LINK_RATE = "3/h"
    invitee = make_user(password="")
    uid = urlsafe_base64_encode(force_bytes(invitee.pk))
    statuses = [
        Client()
        .get(reverse("invite_accept", kwargs={"uidb64": uid, "token": f"abc-{n:032d}"}))
        .status_code
        for n in range(4)
    ]
    print(f"throttle: 4 guessed invitation links, 3/h per address: {statuses}")
    assert statuses == [200, 200, 200, 429]
    token = default_token_generator.make_token(invitee)
    real = Client(REMOTE_ADDR="198.51.100.4").get(
        reverse("invite_accept", kwargs={"uidb64": uid, "token": token})
    )
    assert real.status_code == 302  # Django's set-password step, from another address


def test_pasted_tokens_are_throttled_before_they_reach_copernica(
    world: World,
    sandbox: SandboxControl,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.LINKER_API_TOKEN_RATE = "3/h"
    settings.COPERNICA_AUTH_URL = sandbox.auth_url
    settings.COPERNICA_API_URL = sandbox.api_url
    settings.COPERNICA_REST_URL = sandbox.rest_url
    make_sandbox_application(
        sandbox=sandbox, agency=world.agency_a, redirect_uri="http://testserver/oauth/callback"
    )
    client = Client()
    client.force_login(world.staff_a)
    url = reverse("token_link", kwargs={"tenant_id": world.tenant_a1.pk})
    sandbox.reset_stats()
    statuses = []
    calls = []
    for n in range(6):
        statuses.append(client.post(url, {"api_token": f"{n:032d}"}).status_code)
        calls.append(_requests_at(sandbox))
    print(
        f"throttle: 6 pasted tokens at 3/h per user: {statuses}; requests at Copernica after "
        f"each: {calls}"
    )
    assert statuses == [303, 303, 303, 429, 429, 429]
    assert calls[2] > 0
    assert calls[3:] == [calls[2]] * 3  # nothing more reached Copernica
    # Per user: a colleague at another address may still paste; per address: not at this one.
    colleague = Client(REMOTE_ADDR="198.51.100.4")
    colleague.force_login(world.agency_admin_a)
    assert colleague.post(url, {"api_token": "9" * 32}).status_code == 303
    same_address = Client()
    same_address.force_login(world.agency_admin_a)
    assert same_address.post(url, {"api_token": "8" * 32}).status_code == 429
