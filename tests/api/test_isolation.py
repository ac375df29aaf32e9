"""Case 53 (and 34 for the API): a key of agency A gets, for every id of agency B, the same 404
as for an id that does not exist, on every operation of the OpenAPI document; nothing of B is
written or shown.

The operations come from the live document, so a new route is walked without an entry here;
a route with an id this file cannot aim, or a write without a body here, fails the test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts.models import Role, Tenant
from linker.models import (
    ApiKey,
    ConnectLink,
    Link,
    LinkEvent,
    ProfileChange,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
    SyncRun,
    SyncSchedule,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.api.conftest import Api, make_key
from tests.conftest import World
from tests.factories import link_tenant, make_member
from tests.web.routes import FOREIGN_EMAIL

pytestmark = pytest.mark.django_db

MISSING = 7_000_000_001


@dataclass
class Ids:
    tenant_id: int
    database_id: int
    collection_id: int
    profile_id: int
    subprofile_id: int
    change_id: int
    run_id: int
    connect_link_id: int
    key_id: int
    endpoint_id: int
    delivery_id: int

    def __getitem__(self, name: str) -> int:
        return int(getattr(self, name))


def _mirror(tenant: Tenant, *, n: int, email: str, maker: Any) -> Ids:
    """A linked tenant with one of everything: database, collection, profile, subprofile,
    change, sync run, connect link, link event, and a key of its agency."""
    link = link_tenant(tenant)
    database = RemoteDatabase.objects.create(
        link=link,
        copernica_id=n + 1,
        name=f"Customers {n}",
        fields=[{"name": "email", "type": "email"}],
    )
    collection = RemoteCollection.objects.create(
        link=link,
        database=database,
        copernica_id=n + 2,
        name=f"Orders {n}",
        fields=[{"name": "product", "type": "text"}],
    )
    RemoteProfile.objects.create(
        link=link, database=database, copernica_id=n + 3, fields={"email": email}
    )
    RemoteSubprofile.objects.create(
        link=link,
        collection=collection,
        copernica_id=n + 4,
        profile_copernica_id=n + 3,
        fields={"product": email},
    )
    change = ProfileChange.objects.create(
        link=link,
        database=database,
        kind="update",
        copernica_profile_id=n + 3,
        fields={"email": email},
        state="conflict",
        conflict={"fields": {"email": email}},
    )
    run = SyncRun.objects.create(link=link, mode="full", state="succeeded")
    connect_link = ConnectLink.objects.create(
        tenant=tenant, token_hash=f"{n:064d}", expires_at="2099-01-01T00:00:00Z"
    )
    LinkEvent.objects.create(link=link, kind="linked", message=f"Linked to {email}")
    key = make_key(agency=tenant.agency, user=maker, name=f"Key of {email}").key
    endpoint = WebhookEndpoint.objects.create(
        agency=tenant.agency, url=f"https://hooks{n}.example/in", event_types=["sync.failed"]
    )
    event = WebhookEvent.objects.create(
        agency=tenant.agency, tenant=tenant, type="sync.failed", body="{}"
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, tenant=tenant)
    return Ids(
        tenant_id=tenant.pk,
        database_id=n + 1,
        collection_id=n + 2,
        profile_id=n + 3,
        subprofile_id=n + 4,
        change_id=change.pk,
        run_id=run.pk,
        connect_link_id=connect_link.pk,
        key_id=key.pk,
        endpoint_id=endpoint.pk,
        delivery_id=delivery.pk,
    )


# A valid body per write operation, naming the ids it touches: the same request must be
# refused alike for B's ids and for missing ones.
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/api/v1/tenants/{tenant_id}"): {"name": "Planted"},
    ("post", "/api/v1/tenants/{tenant_id}/archive"): {},
    ("post", "/api/v1/tenants/{tenant_id}/restore"): {},
    ("post", "/api/v1/tenants/{tenant_id}/link/disconnect"): {},
    ("post", "/api/v1/tenants/{tenant_id}/connect-links"): {},
    ("post", "/api/v1/tenants/{tenant_id}/connect-links/{connect_link_id}/revoke"): {},
    ("post", "/api/v1/tenants/{tenant_id}/sync-runs"): {"mode": "full"},
    ("put", "/api/v1/tenants/{tenant_id}/schedule"): {
        "enabled": False,
        "incremental_minutes": 5,
        "full_hour": 3,
    },
    ("post", "/api/v1/tenants/{tenant_id}/profile-changes"): {
        "kind": "update",
        "profile": "{profile_id}",
        "fields": {"email": "planted@example.com"},
    },
    ("post", "/api/v1/tenants/{tenant_id}/subprofile-changes"): {
        "kind": "update",
        "subprofile": "{subprofile_id}",
        "fields": {"product": "planted"},
    },
    ("post", "/api/v1/keys/{key_id}/revoke"): {},
    ("patch", "/api/v1/webhooks/{endpoint_id}"): {"description": "Planted"},
    ("delete", "/api/v1/webhooks/{endpoint_id}"): {},
    ("post", "/api/v1/webhooks/{endpoint_id}/rotate-secret"): {},
    ("post", "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay"): {},
}
# Query parameters that name an object: aimed at B's objects too, on A's own tenant.
ID_QUERIES: dict[str, list[str]] = {
    "/api/v1/tenants/{tenant_id}/collections": ["database_id"],
    "/api/v1/tenants/{tenant_id}/profiles": ["database_id"],
    "/api/v1/tenants/{tenant_id}/subprofiles": ["collection_id"],
}
_QUERY_NAMES = {"database_id": "database", "collection_id": "collection"}


def _operations() -> list[tuple[str, str]]:
    document = Client().get("/api/v1/openapi.json").json()
    return [(method, path) for path, methods in document["paths"].items() for method in methods]


def _fill(template: Any, ids: Ids) -> Any:
    """The template (path, or body) with ``{name}`` replaced by ``ids[name]``."""
    if isinstance(template, str):
        whole = re.fullmatch(r"\{(\w+)\}", template)
        if whole:
            return ids[whole.group(1)]
        return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), template)
    if isinstance(template, dict):
        return {key: _fill(value, ids) for key, value in template.items()}
    return template


def _answer(api: Api, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = api.call(method.upper(), path, body if method != "get" else None)
    content = response.content.decode()
    assert FOREIGN_EMAIL not in content, (method, path)
    assert "Beta Foods" not in content, (method, path)
    data = json.loads(content) if content else {}
    if isinstance(data, dict):
        data.pop("instance", None)
    return response.status_code, data


def _state_of_b(world: World) -> dict[str, Any]:
    link = Link.objects.get(tenant=world.tenant_b1)
    return {
        "tenant": Tenant.objects.filter(pk=world.tenant_b1.pk).values_list("name", "archived_at")[
            0
        ],
        "link": (link.state, link.access_token_encrypted != ""),
        "changes": list(ProfileChange.objects.filter(link=link).values_list("id", "state")),
        "runs": SyncRun.objects.filter(link=link).count(),
        "schedules": SyncSchedule.objects.filter(link=link).count(),
        "connect_links": list(
            ConnectLink.objects.filter(tenant=world.tenant_b1).values_list("id", "revoked_at")
        ),
        "keys": list(ApiKey.objects.filter(agency=world.agency_b).values_list("id", "revoked_at")),
        "webhooks": list(
            WebhookEndpoint.objects.filter(agency=world.agency_b).values_list(
                "id", "description", "secret_encrypted"
            )
        ),
        "deliveries": list(
            WebhookDelivery.objects.filter(endpoint__agency=world.agency_b).values_list(
                "id", "state", "next_attempt_at"
            )
        ),
    }


def test_every_id_of_another_agency_is_the_same_404_as_a_missing_one(world: World) -> None:
    """Case 53: every operation with an id, aimed at agency B's objects, answers exactly as for
    a missing id (404, same problem), from B's tenant and from A's own; B is left unchanged."""
    own = _mirror(world.tenant_a1, n=1000, email="own@alpha.example", maker=world.agency_admin_a)
    admin_b = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b)
    foreign = _mirror(world.tenant_b1, n=990000, email=FOREIGN_EMAIL, maker=admin_b)
    missing = Ids(*(MISSING + i for i in range(11)))
    own_tenant_foreign_rest = Ids(**{**foreign.__dict__, "tenant_id": own.tenant_id})
    own_tenant_missing_rest = Ids(**{**missing.__dict__, "tenant_id": own.tenant_id})
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    before = _state_of_b(world)

    walked = 0
    for method, template in _operations():
        names = re.findall(r"\{(\w+)\}", template)
        if not names and (method, template) not in BODIES:
            continue
        assert all(hasattr(missing, name) for name in names), f"aim {names} of {template}"
        if method != "get":
            assert (method, template) in BODIES, f"add a body for {method.upper()} {template}"
        body = BODIES.get((method, template))
        aims = [(foreign, missing)]
        names_in_body = re.findall(r"\{(\w+)\}", json.dumps(body)) if body else []
        if len(names) > 1 or names_in_body:
            aims.append((own_tenant_foreign_rest, own_tenant_missing_rest))
        for foreign_ids, missing_ids in aims:
            got = _answer(api, method, _fill(template, foreign_ids), _fill(body, foreign_ids))
            expected = _answer(api, method, _fill(template, missing_ids), _fill(body, missing_ids))
            assert got == expected, (method, template, got, expected)
            assert got[0] in (400, 404), (method, template, got)
            walked += 1
        for id_name in ID_QUERIES.get(template, []):
            query = f"?{_QUERY_NAMES[id_name]}="
            path = _fill(template, own)
            got = _answer(api, method, path + query + str(foreign[id_name]), None)
            expected = _answer(api, method, path + query + str(missing[id_name]), None)
            assert got == expected == (404, got[1]), (template, id_name, got)
            walked += 1

    print(f"case 53: {walked} requests at agency B's ids, each the same answer as a missing id")
    assert walked >= 30
    assert _state_of_b(world) == before


def test_lists_show_nothing_of_another_agency(world: World) -> None:
    admin_b = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_b)
    _mirror(world.tenant_b1, n=990000, email=FOREIGN_EMAIL, maker=admin_b)
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    for path in ("tenants", "keys", "requests", "webhooks"):
        response = api.get(path)
        assert response.status_code == 200
        content = response.content.decode()
        assert FOREIGN_EMAIL not in content
        assert world.tenant_b1.name not in content


def test_a_superusers_key_still_sees_only_its_own_agency(world: World) -> None:
    """A key acts within its agency even when its maker could see every tenant."""
    world.agency_admin_a.is_superuser = True
    world.agency_admin_a.save()
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    listed = [t["id"] for t in api.get("tenants").json()["results"]]
    assert sorted(listed) == sorted([world.tenant_a1.pk, world.tenant_a2.pk])
    assert api.get(f"tenants/{world.tenant_b1.pk}").status_code == 404
    assert api.get(f"tenants/{world.lone_tenant.pk}").status_code == 404
