"""Tenant isolation (reliability.md case 34): every URL x method against another agency."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import World
from tests.web.routes import FOREIGN_EMAIL, LISTS, PUBLIC, ROUTES


def _named_urls(patterns: list[URLPattern | URLResolver] | None = None) -> set[str]:
    names: set[str] = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # the admin has its own scoping tests
            names |= _named_urls(entry.url_patterns)
        elif entry.name:
            names.add(entry.name)
    return names


def test_every_url_has_an_isolation_entry() -> None:
    missing = _named_urls() - PUBLIC - LISTS - set(ROUTES)
    assert not missing, f"add these URLs to tests/web/routes.py: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_agency_staff_get_404_for_another_agencys_objects(world: World, name: str) -> None:
    route = ROUTES[name]
    client = Client()
    client.force_login(world.staff_a)
    url = reverse(name, kwargs=route.foreign_kwargs(world))
    for method in route.methods:
        response = getattr(client, method.lower())(url, data=route.data)
        assert response.status_code == 404, (method, url, response.status_code)
        assert world.tenant_b1.name not in response.content.decode()
        assert FOREIGN_EMAIL not in response.content.decode()


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_anonymous_users_are_sent_to_login(world: World, name: str) -> None:
    route = ROUTES[name]
    url = reverse(name, kwargs=route.foreign_kwargs(world))
    for method in route.methods:
        response = getattr(Client(), method.lower())(url, data=route.data)
        assert response.status_code in (302, 403, 404, 405), (method, url)
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("login"))


def test_tenant_list_shows_only_own_agencys_tenants(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home")).content.decode()
    assert world.tenant_a1.name in page
    assert world.tenant_a2.name in page
    assert world.tenant_b1.name not in page
    assert world.lone_tenant.name not in page


def test_tenant_list_search_never_finds_foreign_tenants(world: World) -> None:
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home"), {"q": "Beta"}).content.decode()
    assert world.tenant_b1.name not in page
    assert "No tenant matches" in page


def test_tenant_admin_sees_own_tenant_page_but_not_sibling(world: World) -> None:
    client = Client()
    client.force_login(world.tenant_admin_a1)
    own = client.get(reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk}))
    sibling = client.get(reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a2.pk}))
    assert own.status_code == 200
    assert world.tenant_a1.name in own.content.decode()
    assert sibling.status_code == 404


def test_admin_changelist_is_scoped_for_non_superusers(world: World) -> None:
    world.staff_a.is_staff = True
    world.staff_a.save()
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("admin:accounts_tenant_changelist")).content.decode()
    assert world.tenant_a1.name in page
    assert world.tenant_b1.name not in page
    foreign = client.get(reverse("admin:accounts_tenant_change", args=[world.tenant_b1.pk]))
    # The admin answers a hidden object with a redirect to its index and a "does not exist" note.
    assert foreign.status_code in (302, 404)
    assert world.tenant_b1.name not in foreign.content.decode()
    edit = client.post(
        reverse("admin:accounts_tenant_change", args=[world.tenant_a1.pk]), {"name": "Hijacked"}
    )
    assert edit.status_code == 403
    world.tenant_a1.refresh_from_db()
    assert world.tenant_a1.name == "Alpha Bikes"


def test_foreign_posts_write_nothing(world: World) -> None:
    from accounts.models import Membership, Tenant
    from linker.models import (
        ApiApplication,
        ConnectLink,
        Link,
        OAuthState,
        ProfileChange,
        SyncRun,
        SyncSchedule,
    )

    kwargs = {name: route.foreign_kwargs(world) for name, route in ROUTES.items()}
    links_before = list(Link.objects.values_list("pk", "state", "token_version"))
    # Only the fixtures' own (agency B's change waiting in conflict), untouched.
    changes_before = list(ProfileChange.objects.values_list("pk", "state", "force"))
    tenants_before = Tenant.objects.count()
    members_before = Membership.objects.count()
    # Only the fixtures' own: agency B's application (edit, retire) and run (the run page).
    application_fields = ("pk", "name", "redirect_uri", "client_secret_fingerprint", "retired_at")
    applications_before = list(ApiApplication.objects.values_list(*application_fields))
    runs_before = list(SyncRun.objects.values_list("pk", "state"))
    client = Client()
    client.force_login(world.staff_a)
    for name, route in ROUTES.items():
        if "POST" in route.methods:
            client.post(reverse(name, kwargs=kwargs[name]), data=route.data)
    assert not OAuthState.objects.exists()
    assert list(Link.objects.values_list("pk", "state", "token_version")) == links_before
    assert list(ApiApplication.objects.values_list(*application_fields)) == applications_before
    assert len(applications_before) == 1
    assert ConnectLink.objects.filter(revoked_at__isnull=False).count() == 0
    assert ConnectLink.objects.count() == 1  # only the fixture's own
    assert list(SyncRun.objects.values_list("pk", "state")) == runs_before
    assert len(runs_before) == 1
    assert not SyncSchedule.objects.exists()
    assert list(ProfileChange.objects.values_list("pk", "state", "force")) == changes_before
    assert len(changes_before) == 1
    assert Tenant.objects.count() == tenants_before
    assert Membership.objects.count() == members_before
