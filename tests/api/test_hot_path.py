"""The API's hottest path, a page of profiles, made cheaper without weakening it: one query for
the key (with its maker's membership), one for the tenant and its link (through
``accounts.selectors``, compiled once), the page, the request log; nothing about a key cached,
so a revocation or a maker's deactivation applies to the very next request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Tenant
from linker.api.access import api_link_get
from linker.api.serializers.mirror import ProfileSerializer
from linker.models import ApiKey, ApiRequestLog, Link, RemoteDatabase, RemoteProfile
from linker.platform.api_keys import api_key_revoke
from tests.api.conftest import Api, make_key, problem
from tests.conftest import World
from tests.factories import link_tenant

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _mirror(tenant: Tenant, *, profiles: int, first_id: int = 1000) -> tuple[Link, RemoteDatabase]:
    link = link_tenant(tenant)
    database = RemoteDatabase.objects.create(
        link=link, copernica_id=7, name="Customers", fields=[{"name": "city", "type": "text"}]
    )
    # A second database with a higher id: the default page is of the lowest.
    RemoteDatabase.objects.create(link=link, copernica_id=9, name="Other", fields=[])
    RemoteProfile.objects.bulk_create(
        RemoteProfile(
            link=link,
            database=database,
            copernica_id=first_id + n,
            fields={"city": f"City {n}"},
            interests=["news"] if n % 2 else [],
            created=WHEN,
            modified=WHEN,
        )
        for n in range(profiles)
    )
    return link, database


def _page(api: Api, url: str) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        response = api.client.get(url, HTTP_AUTHORIZATION=f"Bearer {api.secret}")
    assert response.status_code == 200, response.content
    return response.json(), len(queries)


def test_pages_of_profiles_cost_the_same_queries_however_deep(world: World) -> None:
    """Key, tenant with its link and default database, the page, the log row: 4 queries on the
    first page and on a deep one (the key's last use was written by the first request)."""
    _mirror(world.tenant_a1, profiles=30)
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    url = f"/api/v1/tenants/{world.tenant_a1.pk}/profiles?limit=5"
    api.client.get(url, HTTP_AUTHORIZATION=f"Bearer {api.secret}")  # writes last_used_at

    counts, ids = [], []
    body, count = _page(api, url)
    while True:
        counts.append(count)
        ids += [p["id"] for p in body["results"]]
        if not body["next"]:
            break
        body, count = _page(api, body["next"].removeprefix("http://testserver"))

    assert ids == list(range(1000, 1030))
    assert counts == [4] * 6


def test_a_page_shows_each_profile_as_the_profile_itself_does(world: World) -> None:
    """The page reads rows, not models: each item is what the one-profile answer shows."""
    _, database = _mirror(world.tenant_a1, profiles=3)
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    page = api.get(f"tenants/{world.tenant_a1.pk}/profiles").json()["results"]
    profiles = RemoteProfile.objects.filter(database=database).order_by("copernica_id")
    assert page == [ProfileSerializer(p).data for p in profiles]
    assert page[1] == {
        "id": 1001,
        "database": 7,
        "fields": {"city": "City 1"},
        "interests": ["news"],
        "created": "2026-03-01T10:30:00+01:00",  # TIME_ZONE, as DRF writes it
        "modified": "2026-03-01T10:30:00+01:00",
    }


def test_the_default_database_is_the_lowest_live_one(world: World) -> None:
    link, database = _mirror(world.tenant_a1, profiles=2)
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    path = f"tenants/{world.tenant_a1.pk}/profiles"
    assert [p["database"] for p in api.get(path).json()["results"]] == [7, 7]
    RemoteDatabase.objects.filter(pk=database.pk).update(removed_at=WHEN)
    assert api.get(path).json()["results"] == []  # database 9 has no profiles
    RemoteDatabase.objects.filter(link=link).update(removed_at=WHEN)
    assert api.get(path).json() == {"next": None, "previous": None, "results": []}


def test_the_tenant_and_its_link_cost_one_query(world: World) -> None:
    link, _ = _mirror(world.tenant_a1, profiles=1)
    key = make_key(agency=world.agency_a, user=world.agency_admin_a).key
    with CaptureQueriesContext(connection) as queries:
        found = api_link_get(user=world.agency_admin_a, key=key, id=world.tenant_a1.pk)
        assert found is not None
        names = (found.tenant.name, found.tenant.agency_id, found.state)
    assert len(queries) == 1
    assert (found.pk, found.default_database_copernica_id) == (link.pk, 7)
    assert names == (world.tenant_a1.name, world.agency_a.pk, link.state)


@pytest.mark.parametrize("superuser", [False, True], ids=["admin", "superuser"])
def test_another_agencys_tenant_is_a_404_on_the_profile_pages(
    world: World, superuser: bool
) -> None:
    """Both kinds of maker (their access query is compiled once per kind): agency B's linked
    tenant is the same 404 as a missing one."""
    world.agency_admin_a.is_superuser = superuser
    world.agency_admin_a.save()
    _mirror(world.tenant_a1, profiles=2)
    _mirror(world.tenant_b1, profiles=2, first_id=5000)
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    own = api.get(f"tenants/{world.tenant_a1.pk}/profiles")
    foreign = api.get(f"tenants/{world.tenant_b1.pk}/profiles")
    missing = api.get("tenants/987654321/profiles")
    huge = api.get(f"tenants/{2**70}/profiles")
    assert [p["id"] for p in own.json()["results"]] == [1000, 1001]
    assert (foreign.status_code, missing.status_code, huge.status_code) == (404, 404, 404)
    same = ("type", "title", "detail")
    assert [problem(foreign)[k] for k in same] == [problem(missing)[k] for k in same]
    assert "5000" not in foreign.content.decode()


def test_a_revoked_key_and_a_deactivated_maker_are_refused_on_the_next_page(
    world: World,
) -> None:
    _mirror(world.tenant_a1, profiles=2)
    path = f"tenants/{world.tenant_a1.pk}/profiles"
    revoked = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    assert revoked.get(path).status_code == 200
    api_key_revoke(key=ApiKey.objects.get(prefix=revoked.secret[:12]), user=world.agency_admin_a)
    assert revoked.get(path).status_code == 401

    deactivated = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    assert deactivated.get(path).status_code == 200
    world.agency_admin_a.is_active = False
    world.agency_admin_a.save()
    assert deactivated.get(path).status_code == 401


def test_every_page_request_is_logged_under_the_keys_agency(world: World) -> None:
    _mirror(world.tenant_a1, profiles=2)
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    for _ in range(3):
        api.get(f"tenants/{world.tenant_a1.pk}/profiles")
    api.get(f"tenants/{world.tenant_b1.pk}/profiles")
    logged = list(
        ApiRequestLog.objects.filter(agency=world.agency_a)
        .order_by("id")
        .values_list("status", "path")
    )
    assert [status for status, _ in logged] == [200, 200, 200, 404]
    assert logged[0][1] == f"/api/v1/tenants/{world.tenant_a1.pk}/profiles"
