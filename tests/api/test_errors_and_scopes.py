"""Errors as RFC 9457 problems with stable types; scopes per operation; the rate per key; the
body size limit; unknown fields refused."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import Role, Tenant
from linker.api.base import MAX_BODY_BYTES
from linker.api.errors import PROBLEM_TYPES
from linker.models import ApiKey, ConnectLink
from tests.api.conftest import Api, make_key, problem
from tests.conftest import World
from tests.factories import link_tenant, make_member

pytestmark = pytest.mark.django_db


def test_an_unknown_field_is_refused_by_name_and_nothing_is_made(world: World, api: Api) -> None:
    response = api.post("tenants", {"name": "Gamma", "nmae": "typo", "colour": "red"})
    body = problem(response)
    assert response.status_code == 400
    assert body["type"] == "/api/v1/problems/unknown-field"
    assert set(body["errors"]) == {"nmae", "colour"}
    assert "nmae" in body["detail"]
    assert not Tenant.objects.filter(name="Gamma").exists()


def test_invalid_values_name_their_fields(world: World, api: Api) -> None:
    link_tenant(world.tenant_a1)
    response = api.call(
        "PUT",
        f"tenants/{world.tenant_a1.pk}/schedule",
        {"enabled": True, "incremental_minutes": 1, "full_hour": 24},
    )
    body = problem(response)
    assert response.status_code == 400
    assert body["type"] == "/api/v1/problems/invalid-input"
    assert set(body["errors"]) == {"incremental_minutes", "full_hour"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "slug"),
    [
        ("{not json", "application/json", 400, "bad-request"),
        ("[1, 2]", "application/json", 400, "invalid-input"),
        ("name=x", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    ],
    ids=["malformed", "not-an-object", "form"],
)
def test_unreadable_bodies_are_problems(
    world: World, api: Api, body: str, content_type: str, status: int, slug: str
) -> None:
    response = api.client.generic(
        "POST",
        "/api/v1/tenants",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {api.secret}",
    )
    assert response.status_code == status
    assert problem(response)["type"] == f"/api/v1/problems/{slug}"


def test_a_body_over_the_limit_is_413_before_it_is_read(world: World, api: Api) -> None:
    huge = json.dumps({"name": "x" * (MAX_BODY_BYTES + 1)})
    response = api.client.generic(
        "POST",
        "/api/v1/tenants",
        huge,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.secret}",
    )
    assert response.status_code == 413
    assert problem(response)["type"] == "/api/v1/problems/payload-too-large"
    assert not Tenant.objects.filter(name__startswith="xxx").exists()


def test_a_key_over_its_rate_gets_429_with_retry_after(
    world: World, api_as: Callable[..., Api], settings
) -> None:  # type: ignore[no-untyped-def]
    # An hour's window: the test never straddles two windows in practice.
    settings.LINKER_API_RATE = "3/hour"
    busy, other = api_as("read"), api_as("read")
    statuses = [busy.get("tenants").status_code for _ in range(5)]
    refused = busy.get("tenants")
    wait = refused["Retry-After"]
    print(f"429 after {statuses.index(429)} requests at 3/hour; Retry-After {wait} s")
    assert statuses == [200, 200, 200, 429, 429]
    assert problem(refused)["type"] == "/api/v1/problems/rate-limited"
    assert 1 <= int(refused["Retry-After"]) <= 3600
    # Per key: another key of the same agency is not held back.
    assert other.get("tenants").status_code == 200


@pytest.mark.parametrize(
    ("scopes", "method", "path", "body", "needed"),
    [
        (("read",), "POST", "tenants/{a1}/connect-links", None, "write"),
        (("read",), "POST", "tenants/{a1}/sync-runs", {"mode": "full"}, "write"),
        (("read",), "POST", "tenants/{a1}/profile-changes", {"kind": "delete"}, "write"),
        (("read",), "PATCH", "tenants/{a1}", {"name": "Renamed"}, "write"),
        (("read", "write"), "POST", "tenants", {"name": "New"}, "admin"),
        (("read", "write"), "POST", "tenants/{a1}/archive", None, "admin"),
        (("read", "write"), "GET", "keys", None, "admin"),
        (("write",), "GET", "tenants", None, "read"),
    ],
)
def test_each_operation_needs_its_scope(
    world: World,
    api_as: Callable[..., Api],
    scopes: tuple[str, ...],
    method: str,
    path: str,
    body: object,
    needed: str,
) -> None:
    link_tenant(world.tenant_a1)
    api = api_as(*scopes)
    response = api.call(method, path.format(a1=world.tenant_a1.pk), body)
    refused = problem(response)
    assert response.status_code == 403
    assert refused["type"] == "/api/v1/problems/insufficient-scope"
    assert needed in refused["detail"]
    assert not ConnectLink.objects.exists()
    assert not Tenant.objects.filter(name__in=["New", "Renamed"]).exists()
    assert not Tenant.objects.filter(archived_at__isnull=False).exists()


def test_the_makers_role_still_applies(world: World) -> None:
    """A key acts as its maker: an agency admin demoted to staff keeps a working key, but
    key management (agency admins only) is refused as the pages refuse it."""
    maker = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_a)
    api = Api(make_key(agency=world.agency_a, user=maker).secret)
    from accounts.services import membership_add

    membership_add(user=maker, role=Role.AGENCY_STAFF, agency=world.agency_a)
    assert api.get("tenants").status_code == 200
    refused = api.get("keys")
    assert refused.status_code == 403
    assert problem(refused)["type"] == "/api/v1/problems/forbidden"


def test_problem_types_describe_themselves(world: World) -> None:
    client = Client()
    for slug, kind in PROBLEM_TYPES.items():
        response = client.get(kind.uri)
        assert response.status_code == 200, slug
        assert response.json()["title"] == kind.title
    assert client.get("/api/v1/problems/no-such-type").status_code == 404


def test_unknown_addresses_and_methods_are_problems(world: World, api: Api) -> None:
    missing = api.get("tenant")
    wrong_method = api.call("DELETE", "tenants")
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert problem(missing)["type"] == "/api/v1/problems/not-found"
    assert problem(wrong_method)["type"] == "/api/v1/problems/method-not-allowed"


def test_keys_are_kept_hashed_even_in_answers(world: World, api: Api) -> None:
    listed = api.get("keys").content.decode()
    key = ApiKey.objects.get(agency=world.agency_a)
    assert key.prefix in listed
    assert api.secret not in listed
    assert key.key_hash not in listed


def test_json_nested_too_deeply_is_a_400(world: World, api: Api) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = api.client.generic(
        "POST",
        "/api/v1/tenants",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.secret}",
    )
    assert response.status_code == 400
    assert problem(response)["type"] == "/api/v1/problems/bad-request"


def test_answers_are_not_cached(world: World, api: Api) -> None:
    assert api.get("tenants")["Cache-Control"] == "no-store"
    assert api.get(f"tenants/{world.tenant_b1.pk}")["Cache-Control"] == "no-store"
