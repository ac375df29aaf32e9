"""The API's resources do what the pages do, through the same services, on a sandbox account
synced into the mirror: tenants, the link, connect links, syncing, the schedule, the ledger,
the mirror with cursor pagination, and keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import Membership, Role, Tenant
from linker.models import ApiKey, ConnectLink, Link, RemoteProfile, SyncRun
from linker.sync.runs import sync_run_foreground
from tests.api.conftest import Api, make_key, problem
from tests.conftest import World
from tests.linked_accounts import Linked
from tests.profiles.conftest import Shop, synced_shop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(linked: Callable[..., Linked], sandbox, world: World) -> Shop:  # type: ignore[no-untyped-def]
    shop = synced_shop(linked)
    Tenant.objects.filter(pk=shop.tenant.pk).update(agency=world.agency_a)
    shop.tenant.refresh_from_db()
    return shop


@pytest.fixture
def api(world: World) -> Api:
    return Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)


def _all_pages(api: Api, path: str, **query: object) -> tuple[list[dict], int]:
    """Every item of a cursor-paginated list, following ``next``; and how many pages."""
    items, pages = [], 0
    response = api.get(path, **query)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        items += body["results"]
        pages += 1
        if not body["next"]:
            return items, pages
        parts = urlsplit(body["next"])
        response = api.client.get(
            f"{parts.path}?{parts.query}", HTTP_AUTHORIZATION=f"Bearer {api.secret}"
        )


def test_a_tenant_is_created_with_an_invited_admin_listed_and_renamed(
    world: World, api: Api
) -> None:
    created = api.post("tenants", {"name": "Gamma Garden", "admin_email": "gg@example.com"})
    body = created.json()
    tenant = Tenant.objects.get(pk=body["id"])
    renamed = api.call("PATCH", f"tenants/{tenant.pk}", {"name": "Gamma Gardens"})
    listed = [t["name"] for t in api.get("tenants").json()["results"]]
    assert created.status_code == 201
    assert tenant.agency == world.agency_a
    assert Membership.objects.get(tenant=tenant).role == Role.TENANT_ADMIN
    assert [m.to for m in mail.outbox] == [["gg@example.com"]]
    assert body["connect_url"] in mail.outbox[0].body
    assert Client().get(urlsplit(body["connect_url"]).path).status_code == 200
    assert renamed.json()["name"] == "Gamma Gardens"
    assert "Gamma Gardens" in listed
    assert set(problem(api.call("PATCH", f"tenants/{tenant.pk}", {"name": " "}))["errors"]) == {
        "name"
    }


def test_a_tenant_is_archived_then_restored(shop: Shop, api: Api) -> None:
    path = f"tenants/{shop.tenant.pk}"
    archived = api.post(f"{path}/archive")
    again = api.post(f"{path}/archive")
    refused = api.post(f"{path}/sync-runs", {"mode": "full"})
    listed = [t["id"] for t in api.get("tenants", archived="true").json()["results"]]
    restored = api.post(f"{path}/restore")
    assert archived.json()["archived_at"] is not None
    assert again.status_code == 409
    assert problem(again)["type"] == "/api/v1/problems/state-conflict"
    assert refused.status_code == 400
    assert "archived" in problem(refused)["detail"]
    assert listed == [shop.tenant.pk]
    assert restored.json()["archived_at"] is None
    assert api.post(f"{path}/sync-runs", {"mode": "full"}).status_code == 201


def test_the_link_its_history_and_disconnect(shop: Shop, api: Api) -> None:
    path = f"tenants/{shop.tenant.pk}/link"
    before = api.get(path).json()
    gone = api.post(f"{path}/disconnect", {})
    again = api.post(f"{path}/disconnect", {})
    history = api.get(f"{path}/history").json()["results"]
    assert (before["state"], before["read_only"]) == ("active", False)
    assert (gone.json()["state"], gone.json()["read_only"]) == ("disconnected", True)
    assert not Link.objects.get(pk=shop.linked.link.pk).access_token_encrypted
    assert again.status_code == 409
    assert problem(again)["type"] == "/api/v1/problems/state-conflict"
    assert history[0]["kind"] == "disconnected"


def test_connect_links_are_made_listed_and_revoked(shop: Shop, world: World, api: Api) -> None:
    path = f"tenants/{shop.tenant.pk}/connect-links"
    made = api.post(path)
    url_path = urlsplit(made.json()["url"]).path
    opened = Client().get(url_path)
    listed = api.get(path).json()["results"]
    revoked = api.post(f"{path}/{made.json()['id']}/revoke", {})
    assert made.status_code == 201
    assert opened.status_code == 200
    assert [(c["id"], c["is_open"]) for c in listed] == [(made.json()["id"], True)]
    assert revoked.json()["is_open"] is False
    assert ConnectLink.objects.get().revoked_at is not None
    assert Client().get(url_path).status_code == 404
    assert "url" not in listed[0]


def test_a_sync_is_started_once_and_followed_to_its_end(shop: Shop, api: Api) -> None:
    path = f"tenants/{shop.tenant.pk}/sync-runs"
    started = api.post(path, {"mode": "full"})
    again = api.post(path, {"mode": "incremental"})
    run = SyncRun.objects.get(pk=started.json()["id"])
    sync_run_foreground(run=run)
    detail = api.get(f"{path}/{run.pk}").json()
    listed = api.get(path).json()["results"]
    assert (started.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == run.pk
    assert started.json()["mode"] == "full"
    assert detail["state"] == "succeeded"
    assert detail["progress"]["percent"] == 100.0
    assert detail["fetched"] > 0
    assert listed[0]["id"] == run.pk


def test_the_schedule_is_read_and_set(shop: Shop, api: Api) -> None:
    path = f"tenants/{shop.tenant.pk}/schedule"
    default = api.get(path).json()
    changed = api.call(
        "PUT", path, {"enabled": False, "incremental_minutes": 30, "full_hour": 4}
    ).json()
    assert (default["enabled"], default["incremental_minutes"]) == (True, 15)
    assert api.get(path).json() == changed
    assert (changed["enabled"], changed["incremental_minutes"], changed["full_hour"]) == (
        False,
        30,
        4,
    )


def test_the_request_ledger_counts_the_syncs_requests(shop: Shop, api: Api) -> None:
    days = api.get(f"tenants/{shop.tenant.pk}/requests", days=3).json()
    assert len(days) == 3
    assert days[0]["requests"] > 0
    assert problem(api.get(f"tenants/{shop.tenant.pk}/requests", days=91))["errors"]["days"]


def test_databases_and_collections(shop: Shop, api: Api) -> None:
    base = f"tenants/{shop.tenant.pk}"
    databases = api.get(f"{base}/databases").json()
    database = databases[0]
    collections = api.get(f"{base}/collections", database=database["id"]).json()
    assert [d["id"] for d in databases] == [shop.collection.database.copernica_id]
    assert {"name": "city", "type": "text"} in database["fields"]
    assert api.get(f"{base}/databases/{database['id']}").json() == database
    assert [c["id"] for c in collections] == [shop.collection.copernica_id]
    assert api.get(f"{base}/collections/{shop.collection.copernica_id}").json() == collections[0]


def test_profiles_page_by_cursor_without_repeats_or_gaps(shop: Shop, api: Api) -> None:
    path = f"tenants/{shop.tenant.pk}/profiles"
    items, pages = _all_pages(api, path, limit=5)
    ids = [p["id"] for p in items]
    mirrored = sorted(
        RemoteProfile.objects.filter(link=shop.linked.link, removed_at=None).values_list(
            "copernica_id", flat=True
        )
    )
    assert pages == 3
    assert ids == mirrored


def test_profiles_are_filtered(shop: Shop, api: Api) -> None:
    path = f"tenants/{shop.tenant.pk}/profiles"
    one = RemoteProfile.objects.filter(link=shop.linked.link).order_by("copernica_id")[3]
    RemoteProfile.objects.filter(pk=one.pk).update(modified=timezone.now() + timedelta(days=1))
    city = one.fields["city"]
    since = (timezone.now() + timedelta(hours=12)).isoformat()
    recent = api.get(path, modified_since=since).json()["results"]
    in_city = api.get(path, field="city", value=city).json()["results"]
    assert [p["id"] for p in recent] == [one.copernica_id]
    assert one.copernica_id in [p["id"] for p in in_city]
    assert all(p["fields"]["city"] == city for p in in_city)
    assert problem(api.get(path, field="shoesize", value="1"))["errors"]["field"]
    assert problem(api.get(path, cursor="bm90IGEgY3Vyc29y"))["type"].endswith("/bad-request")
    assert problem(api.get(path, limit=0))["errors"]["limit"]
    assert api.get(path, database=999_999).status_code == 404


def test_one_profile_and_its_subprofiles(shop: Shop, api: Api) -> None:
    base = f"tenants/{shop.tenant.pk}"
    profile = shop.profile(0)
    got = api.get(f"{base}/profiles/{profile.copernica_id}").json()
    own, _ = _all_pages(api, f"{base}/subprofiles", profile=profile.copernica_id)
    everything, _ = _all_pages(api, f"{base}/subprofiles", limit=7)
    one = api.get(f"{base}/subprofiles/{own[0]['id']}").json()
    assert (got["id"], got["fields"]) == (profile.copernica_id, profile.fields)
    assert own
    assert all(s["profile"] == profile.copernica_id for s in own)
    assert len(everything) == 24
    assert one == own[0]


def test_a_key_sees_itself_lists_keys_and_revokes_one(world: World, api: Api) -> None:
    other = make_key(agency=world.agency_a, user=world.agency_admin_a, name="Old CRM")
    me = api.get("key").json()
    listed = [k["name"] for k in api.get("keys").json()["results"]]
    revoked = api.post(f"keys/{other.key.pk}/revoke")
    assert me["scopes"] == ["read", "write", "admin"]
    assert sorted(listed) == ["CRM", "Old CRM"]
    assert revoked.json()["revoked_at"] is not None
    assert Api(other.secret).get("tenants").status_code == 401
    assert ApiKey.objects.get(pk=other.key.pk).revoked_reason.startswith("Revoked by")
