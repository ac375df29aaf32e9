"""Connect links for clients without a login, and linking with a pasted API token."""

from __future__ import annotations

import re
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from linker.models import ConnectLink, Link, LinkState
from tests.linking.conftest import Linking


def _create_connect_link(linking: Linking) -> str:
    response = linking.client.post(
        reverse("connect_link_create", kwargs={"tenant_id": linking.world.tenant_a1.pk}),
        follow=True,
    )
    match = re.search(r"http://testserver(/connect/[A-Za-z0-9_-]+)", response.content.decode())
    assert match, "the connect link is shown once"
    return match.group(1)


def test_client_admin_without_login_links_through_a_connect_link(linking: Linking) -> None:
    path = _create_connect_link(linking)
    guest = Client()
    assert "Connect Alpha Bikes to Copernica" in guest.get(path).content.decode()
    start = guest.post(path)
    assert start.status_code == 303
    params = linking.consent(start["Location"])
    done = linking.callback(params, client=guest)
    assert done.status_code == 303
    assert done["Location"] == reverse("connect_done")
    assert "is now linked" in guest.get(done["Location"]).content.decode()
    link = Link.objects.get()
    assert link.tenant == linking.world.tenant_a1
    assert link.state == LinkState.ACTIVE
    # Single use.
    assert guest.get(path).status_code == 404


def test_revoked_or_expired_connect_link_starts_nothing(linking: Linking) -> None:
    path = _create_connect_link(linking)
    connect_link = ConnectLink.objects.get()
    linking.client.post(
        reverse(
            "connect_link_revoke",
            kwargs={"tenant_id": linking.world.tenant_a1.pk, "link_id": connect_link.pk},
        )
    )
    assert Client().post(path).status_code == 404
    other = _create_connect_link(linking)
    ConnectLink.objects.filter(revoked_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get(other).status_code == 404


def test_tenant_admin_cannot_create_connect_links(linking: Linking) -> None:
    admin = Client()
    admin.force_login(linking.world.tenant_admin_a1)
    admin.post(reverse("connect_link_create", kwargs={"tenant_id": linking.world.tenant_a1.pk}))
    assert not ConnectLink.objects.exists()


def test_pasted_api_token_is_checked_then_stored(linking: Linking) -> None:
    admin = Client()
    admin.force_login(linking.world.tenant_admin_a1)
    url = reverse("token_link", kwargs={"tenant_id": linking.world.tenant_a1.pk})
    with linking.sandbox_settings():
        bad = admin.post(url, {"api_token": "f" * 32}, follow=True)
        assert "Copernica did not accept this API token" in bad.content.decode()
        assert not Link.objects.exists()
        good = admin.post(url, {"api_token": linking.account.api_token}, follow=True)
    assert "Linked to Copernica account Fietsen BV" in good.content.decode()
    link = Link.objects.get()
    assert link.state == LinkState.ACTIVE
    assert link.copernica_account_id == linking.account.account_id


def test_viewer_cannot_paste_a_token(linking: Linking) -> None:
    viewer = Client()
    viewer.force_login(linking.world.viewer_a1)
    url = reverse("token_link", kwargs={"tenant_id": linking.world.tenant_a1.pk})
    with linking.sandbox_settings():
        response = viewer.post(url, {"api_token": linking.account.api_token}, follow=True)
    assert "does not allow" in response.content.decode()
    assert not Link.objects.exists()
