"""Connect links (issue 14: "shown once, in a flash, with no copy button; nobody can see
whether it was opened; the client's landing page says "Your agency" without naming it")."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from linker.models import ConnectLink
from tests.conftest import World


def _tenant_page(client: Client, world: World) -> str:
    return client.get(
        reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk})
    ).content.decode()


def _create(client: Client, world: World) -> str:
    response = client.post(
        reverse("connect_link_create", kwargs={"tenant_id": world.tenant_a1.pk}), follow=True
    )
    page = response.content.decode()
    found = re.search(
        r'<input type="text" id="new-connect-link" value="(http://testserver/connect/[\w-]+)" '
        r"readonly>",
        page,
    )
    assert found, "the new link is in a field of its own"
    return found.group(1)


def test_a_new_connect_link_is_shown_once_beside_a_copy_button(world: World) -> None:
    staff = Client()
    staff.force_login(world.staff_a)
    url = _create(staff, world)
    page = _tenant_page(staff, world)
    assert url not in page  # shown once: its token is stored only as a hash
    assert 'data-testid="new-connect-link"' not in page
    again = staff.post(
        reverse("connect_link_create", kwargs={"tenant_id": world.tenant_a1.pk}), follow=True
    ).content.decode()
    assert 'data-copy-from="#new-connect-link"' in again
    assert "/static/js/copy.js" in again
    assert "Copy it now: it is shown only this once." in again


def test_a_new_connect_link_shows_only_on_its_own_tenants_page(world: World) -> None:
    staff = Client()
    staff.force_login(world.staff_a)
    staff.post(reverse("connect_link_create", kwargs={"tenant_id": world.tenant_a1.pk}))
    other = staff.get(
        reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a2.pk})
    ).content.decode()
    assert "/connect/" not in other


def test_opening_a_connect_link_is_recorded_and_shown_with_its_times(world: World) -> None:
    staff = Client()
    staff.force_login(world.staff_a)
    url = _create(staff, world)
    connect_link = ConnectLink.objects.get()
    page = _tenant_page(staff, world)
    row = page[page.index('data-testid="connect-links"') :]
    assert '<td data-label="Opened"><span class="muted">not yet</span></td>' in row
    client = Client()  # the client's admin: no login here
    landing = client.get(url.removeprefix("http://testserver"))
    assert landing.status_code == 200
    connect_link.refresh_from_db()
    assert connect_link.opened_at is not None
    first_opened = connect_link.opened_at
    client.get(url.removeprefix("http://testserver"))
    connect_link.refresh_from_db()
    assert connect_link.opened_at == first_opened  # the first time counts
    page = _tenant_page(staff, world)
    row = page[page.index('data-testid="connect-links"') :]
    assert '<td data-label="Opened"><time datetime="' in row
    assert "not yet" not in row
    assert 'data-label="Created"' in row
    assert "open until" in row


def test_the_clients_landing_page_names_the_agency_and_the_tenant(world: World) -> None:
    staff = Client()
    staff.force_login(world.staff_a)
    url = _create(staff, world)
    page = Client().get(url.removeprefix("http://testserver")).content.decode()
    who = page[page.index('data-testid="connect-link-who"') :]
    who = who[: who.index("</p>")]
    assert "<strong>Agency A</strong>" in who
    assert "Alpha Bikes" in who
    assert "Your agency" not in page


def test_a_new_connect_link_is_emailed_to_the_tenants_admins(world: World) -> None:
    """Issue 14: "resend by email" — a fresh link goes to the tenant's admins, and it opens."""
    from django.core import mail

    staff = Client()
    staff.force_login(world.staff_a)
    before = ConnectLink.objects.filter(tenant=world.tenant_a1).count()
    response = staff.post(
        reverse("connect_link_email", kwargs={"tenant_id": world.tenant_a1.pk}), follow=True
    )
    assert f"emailed to {world.tenant_admin_a1.email}" in response.content.decode()
    assert ConnectLink.objects.filter(tenant=world.tenant_a1).count() == before + 1
    (message,) = mail.outbox
    assert message.to == [world.tenant_admin_a1.email]
    found = re.search(r"http://testserver(/connect/[\w-]+)", message.body)
    assert found, "the email holds the link"
    assert Client().get(found.group(1)).status_code == 200


def test_only_agency_staff_email_connect_links(world: World) -> None:
    from django.core import mail

    partner = Client()
    partner.force_login(world.tenant_admin_a1)
    response = partner.post(
        reverse("connect_link_email", kwargs={"tenant_id": world.tenant_a1.pk}), follow=True
    )
    assert "Only agency staff send connect links." in response.content.decode()
    assert not mail.outbox
