"""A link that waits in *pending* is never announced as linked (issue 12, 6)."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from linker.linking.connect_links import connect_link_create
from linker.models import Link, LinkState
from tests.linking.conftest import Linking


def test_pasted_token_of_an_account_another_tenant_holds_says_it_waits(linking: Linking) -> None:
    first = linking.callback(linking.consent(linking.start()))
    linking.client.get(first["Location"])  # its "Linked to …" message shown there
    url = reverse("token_link", kwargs={"tenant_id": linking.world.tenant_a2.pk})
    with linking.sandbox_settings():
        response = linking.client.post(url, {"api_token": linking.account.api_token}, follow=True)
    page = response.content.decode()
    assert Link.objects.get(tenant=linking.world.tenant_a2).state == LinkState.PENDING
    assert "waits for confirmation" in page
    assert "Linked to Copernica account" not in page
    assert page.count("is already linked to Alpha Bikes") == 1


def test_connect_link_to_an_account_another_tenant_holds_says_it_waits(linking: Linking) -> None:
    linking.callback(linking.consent(linking.start()))
    _, token = connect_link_create(tenant=linking.world.tenant_a2, user=linking.world.staff_a)
    guest = Client()
    start = guest.post(reverse("connect_link_open", kwargs={"token": token}))
    done = linking.callback(linking.consent(start["Location"]), client=guest)
    page = guest.get(done["Location"]).content.decode()
    assert "Waiting for confirmation" in page
    assert "is now linked" not in page
    assert Link.objects.get(tenant=linking.world.tenant_a2).state == LinkState.PENDING
