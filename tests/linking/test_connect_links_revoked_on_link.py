"""Open connect links of a tenant are revoked once it is linked (issue 12, 11)."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from linker.linking.connect_links import connect_link_create
from linker.models import ConnectLink, Link, LinkEvent, LinkState
from tests.linking.conftest import Linking


def test_linking_through_the_tenant_page_revokes_its_open_connect_links(linking: Linking) -> None:
    tenant = linking.world.tenant_a1
    _, token = connect_link_create(tenant=tenant, user=linking.world.staff_a)
    connect_link_create(tenant=linking.world.tenant_a2, user=linking.world.staff_a)
    linking.callback(linking.consent(linking.start()))
    assert Link.objects.get(tenant=tenant).state == LinkState.ACTIVE
    assert ConnectLink.objects.get(tenant=tenant).revoked_at is not None
    path = reverse("connect_link_open", kwargs={"token": token})
    assert Client().get(path).status_code == 404
    assert Client().post(path).status_code == 404
    # Another tenant's invitation is untouched.
    assert ConnectLink.objects.get(tenant=linking.world.tenant_a2).revoked_at is None
    event = Link.objects.get(tenant=tenant).events.get(kind=LinkEvent.Kind.LINKED)
    assert "1 open connect link revoked" in event.message


def test_connect_link_used_to_link_revokes_the_tenants_other_links(linking: Linking) -> None:
    tenant = linking.world.tenant_a1
    _, used = connect_link_create(tenant=tenant, user=linking.world.staff_a)
    _, spare = connect_link_create(tenant=tenant, user=linking.world.staff_a)
    guest = Client()
    start = guest.post(reverse("connect_link_open", kwargs={"token": used}))
    linking.callback(linking.consent(start["Location"]), client=guest)
    assert Link.objects.get(tenant=tenant).state == LinkState.ACTIVE
    assert not ConnectLink.objects.filter(
        tenant=tenant, used_at__isnull=True, revoked_at__isnull=True
    ).exists()
    used_row = ConnectLink.objects.get(tenant=tenant, used_at__isnull=False)
    assert used_row.revoked_at is None  # used, not revoked: the history says what happened
    assert ConnectLink.objects.filter(tenant=tenant, revoked_at__isnull=False).count() == 1
    event = Link.objects.get(tenant=tenant).events.order_by("-id").first()
    assert event is not None
    assert "1 open connect link revoked" in event.message
    assert Client().get(reverse("connect_link_open", kwargs={"token": spare})).status_code == 404


def test_pasted_token_revokes_open_connect_links(linking: Linking) -> None:
    tenant = linking.world.tenant_a1
    connect_link_create(tenant=tenant, user=linking.world.staff_a)
    with linking.sandbox_settings():
        linking.client.post(
            reverse("token_link", kwargs={"tenant_id": tenant.pk}),
            {"api_token": linking.account.api_token},
        )
    assert Link.objects.get(tenant=tenant).state == LinkState.ACTIVE
    assert ConnectLink.objects.get(tenant=tenant).revoked_at is not None


def test_a_connect_link_started_before_another_link_completes_links_nothing(
    linking: Linking,
) -> None:
    """Opened (consent page reached), then the tenant got linked elsewhere: the callback of
    the now-revoked invitation stores nothing."""
    tenant = linking.world.tenant_a1
    _, token = connect_link_create(tenant=tenant, user=linking.world.staff_a)
    guest = Client()
    guest_start = guest.post(reverse("connect_link_open", kwargs={"token": token}))
    linking.callback(linking.consent(linking.start()))
    version = Link.objects.get(tenant=tenant).token_version
    response = linking.callback(linking.consent(guest_start["Location"]), client=guest)
    assert response.status_code == 303
    assert "revoked" in guest.get(response["Location"]).content.decode()
    assert Link.objects.get(tenant=tenant).token_version == version
