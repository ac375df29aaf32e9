"""Bulk *Send connect link* skips tenants already linked and says so (issue 12, 11)."""

from __future__ import annotations

from django.core import mail
from django.test import Client
from django.urls import reverse

from linker.models import ConnectLink, LinkState
from tests.conftest import World
from tests.factories import link_tenant


def _bulk(client: Client, *tenants: int) -> str:
    response = client.post(
        reverse("tenant_bulk"), {"action": "connect_link", "tenants": list(tenants)}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


def test_bulk_send_connect_link_skips_active_tenants_and_counts_them(world: World) -> None:
    link_tenant(world.tenant_a1)
    client = Client()
    client.force_login(world.staff_a)
    page = _bulk(client, world.tenant_a1.pk, world.tenant_a2.pk)
    assert not ConnectLink.objects.filter(tenant=world.tenant_a1).exists()
    assert ConnectLink.objects.filter(tenant=world.tenant_a2).count() == 1
    assert mail.outbox == []  # Alpha Bikes' admin gets nothing; Alpha Cars has no admin
    assert "Skipped 1 tenant already linked (no connect link sent): Alpha Bikes." in page
    assert "Alpha Cars: http://testserver/connect/" in page


def test_bulk_send_connect_link_still_invites_tenants_that_need_reconnecting(
    world: World,
) -> None:
    link_tenant(world.tenant_a1, state=LinkState.NEEDS_RECONNECT)
    link_tenant(world.tenant_a2)
    client = Client()
    client.force_login(world.staff_a)
    page = _bulk(client, world.tenant_a1.pk, world.tenant_a2.pk)
    assert ConnectLink.objects.filter(tenant=world.tenant_a1).count() == 1
    assert [m.to for m in mail.outbox] == [[world.tenant_admin_a1.email]]
    assert "Skipped 1 tenant already linked (no connect link sent): Alpha Cars." in page
