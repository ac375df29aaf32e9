"""The *API keys* page: agency admins make a key (shown once), see their keys and the API
requests made with them, and revoke keys; nobody else reaches it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from linker.models import ApiKey
from tests.api.conftest import Api, make_key
from tests.conftest import World
from tests.factories import make_member

pytestmark = pytest.mark.django_db


def _page(world: World) -> str:
    return reverse("api_keys", kwargs={"agency_id": world.agency_a.pk})


def _admin(world: World) -> Client:
    client = Client()
    client.force_login(world.agency_admin_a)
    return client


def test_an_admin_makes_a_key_that_is_shown_once_and_works(world: World) -> None:
    client = _admin(world)
    made = client.post(_page(world), {"name": "Zapier", "scopes": ["read", "write"]})
    key = ApiKey.objects.get(name="Zapier")
    page = made.content.decode()
    value = page.split('id="new-api-key" type="text" readonly value="')[1].split('"')[0]
    again = client.get(_page(world)).content.decode()
    assert made.status_code == 200
    assert made["Cache-Control"] == "no-store"
    assert value.startswith(key.prefix)
    assert (key.scopes, key.created_by) == (["read", "write"], world.agency_admin_a)
    assert Api(value).get("tenants").status_code == 200
    assert value not in again  # shown once
    assert key.prefix in again
    assert "Zapier" in again


def test_the_page_lists_the_api_requests_of_the_agency(world: World) -> None:
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a, name="CRM").secret)
    api.get("tenants")
    api.get(f"tenants/{world.tenant_b1.pk}")
    page = _admin(world).get(_page(world)).content.decode()
    assert "GET /api/v1/tenants</code>" in page
    assert f"GET /api/v1/tenants/{world.tenant_b1.pk}</code>" in page
    assert ">404<" in page


def test_an_admin_revokes_a_key_and_it_stops_working(world: World) -> None:
    made = make_key(agency=world.agency_a, user=world.agency_admin_a)
    url = reverse("api_key_revoke", kwargs={"agency_id": world.agency_a.pk, "key_id": made.key.pk})
    response = _admin(world).post(url)
    assert response.status_code == 303
    assert ApiKey.objects.get(pk=made.key.pk).revoked_at is not None
    assert Api(made.secret).get("tenants").status_code == 401


def test_a_bad_form_makes_no_key(world: World) -> None:
    response = _admin(world).post(_page(world), {"name": "", "scopes": ["sudo"]})
    assert response.status_code == 200
    assert not ApiKey.objects.exists()
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize("who", ["staff", "other_admin", "tenant_admin"])
def test_only_the_agencys_admins_reach_the_page(world: World, who: str) -> None:
    users = {
        "staff": world.staff_a,
        "other_admin": make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b),
        "tenant_admin": world.tenant_admin_a1,
    }
    made = make_key(agency=world.agency_a, user=world.agency_admin_a)
    client = Client()
    client.force_login(users[who])
    revoke = reverse(
        "api_key_revoke", kwargs={"agency_id": world.agency_a.pk, "key_id": made.key.pk}
    )
    assert client.get(_page(world)).status_code == 404
    assert client.post(_page(world), {"name": "x", "scopes": ["read"]}).status_code == 404
    assert client.post(revoke).status_code == 404
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1


def test_another_agencys_key_cannot_be_revoked_from_ones_own_page(world: World) -> None:
    admin_b = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b)
    theirs = make_key(agency=world.agency_b, user=admin_b)
    url = reverse(
        "api_key_revoke", kwargs={"agency_id": world.agency_a.pk, "key_id": theirs.key.pk}
    )
    assert _admin(world).post(url).status_code == 404
    assert ApiKey.objects.get(pk=theirs.key.pk).revoked_at is None


def test_agency_admins_find_the_page_in_the_navigation(world: World) -> None:
    admin = _admin(world).get(reverse("home")).content.decode()
    staff = Client()
    staff.force_login(world.staff_a)
    assert f'href="{_page(world)}"' in admin
    assert "API keys" not in staff.get(reverse("home")).content.decode()
