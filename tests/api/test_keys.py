"""API keys: made (page service and command), stored hashed, refused when revoked, unknown or
their maker left the agency (cases 43 and 53), last use recorded sparingly, every request
logged."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Role
from accounts.services import membership_add, membership_remove
from linker.models import ApiKey, ApiRequestLog
from linker.platform.api_keys import LAST_USED_EVERY, api_key_authenticate, api_key_revoke
from tests.api.conftest import Api, make_key, problem
from tests.conftest import World
from tests.factories import make_member

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_only_as_its_sha256_and_shown_by_its_prefix(world: World) -> None:
    made = make_key(agency=world.agency_a, user=world.agency_admin_a)
    row = ApiKey.objects.get(pk=made.key.pk)
    assert made.secret.startswith("clk_")
    assert len(made.secret) >= 40
    assert row.key_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert made.secret[:12] == row.prefix
    stored = json.dumps(list(ApiKey.objects.values()), default=str)
    assert made.secret not in stored


def test_a_revoked_key_gets_401_at_once(world: World, api: Api) -> None:
    """Case 53: a revoked key gets 401 on its very next request."""
    before = api.get("tenants")
    key = ApiKey.objects.get(agency=world.agency_a)
    assert api_key_revoke(key=key, user=world.agency_admin_a)
    after = api.get("tenants")
    body = problem(after)
    print(f"case 53: revoked key: {before.status_code} before, {after.status_code} after")
    assert (before.status_code, after.status_code) == (200, 401)
    assert body["type"] == "/api/v1/problems/unauthorized"
    assert "revoked" in body["detail"]
    assert after["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer clk_not-a-key-at-all", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer x" * 50],
    ids=["none", "unknown", "empty", "basic", "huge"],
)
def test_requests_without_a_working_key_get_401(world: World, authorization: str) -> None:
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = Api("").client.get("/api/v1/tenants", **extra)
    assert response.status_code == 401
    assert problem(response)["type"] == "/api/v1/problems/unauthorized"
    assert world.tenant_a1.name not in response.content.decode()


def test_a_members_keys_die_when_they_are_removed_from_the_agency(world: World) -> None:
    """Case 43: removing the maker from the agency revokes their keys in the same transaction;
    another admin's key of the agency keeps working."""
    other_admin = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_a)
    leaving = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    staying = Api(make_key(agency=world.agency_a, user=other_admin).secret)
    assert leaving.get("tenants").status_code == 200

    membership_remove(user=world.agency_admin_a, agency=world.agency_a, actor=other_admin)

    refused = leaving.get("tenants")
    revoked = ApiKey.objects.get(created_by=world.agency_admin_a)
    print(f"case 43: removed maker's key answered {refused.status_code}")
    assert refused.status_code == 401
    assert revoked.revoked_at is not None
    assert "removed from the agency" in revoked.revoked_reason
    assert staying.get("tenants").status_code == 200


def test_a_key_stops_working_when_its_maker_leaves_even_without_the_receiver(
    world: World,
) -> None:
    """Case 43, second line of defence: every request checks that the maker still works for
    the key's agency (a membership deleted by raw SQL sends no signal)."""
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM accounts_membership WHERE user_id = %s", [world.agency_admin_a.pk]
        )
    response = api.get("tenants")
    assert response.status_code == 401
    assert "no longer works for the agency" in problem(response)["detail"]


def test_leaving_a_tenant_role_keeps_agency_keys(world: World) -> None:
    """Keys belong to agencies: a tenant role taken away revokes none."""
    api = Api(make_key(agency=world.agency_a, user=world.agency_admin_a).secret)
    membership_add(user=world.agency_admin_a, role=Role.TENANT_VIEWER, tenant=world.tenant_b1)
    membership_remove(user=world.agency_admin_a, tenant=world.tenant_b1)
    assert api.get("tenants").status_code == 200


def test_last_used_is_written_at_most_once_a_minute(world: World) -> None:
    made = make_key(agency=world.agency_a, user=world.agency_admin_a)
    start = timezone.now()
    api_key_authenticate(secret=made.secret, now=start)
    api_key_authenticate(secret=made.secret, now=start + timedelta(seconds=30))
    after_half_a_minute = ApiKey.objects.get(pk=made.key.pk).last_used_at
    api_key_authenticate(secret=made.secret, now=start + LAST_USED_EVERY + timedelta(seconds=1))
    after_a_minute = ApiKey.objects.get(pk=made.key.pk).last_used_at
    assert after_half_a_minute == start
    assert after_a_minute == start + LAST_USED_EVERY + timedelta(seconds=1)


def test_every_request_is_logged_with_its_key_status_and_no_secret(world: World, api: Api) -> None:
    api.get("tenants")
    api.get(f"tenants/{world.tenant_b1.pk}")
    api.get("tenants", cursor="x", access_token="leaked-secret", code="abc")
    api.call("GET", "no-such-thing")
    Api(api.secret + "typo").get("tenants")
    rows = list(ApiRequestLog.objects.order_by("id"))
    key = ApiKey.objects.get(agency=world.agency_a)
    assert [(r.method, r.status) for r in rows] == [
        ("GET", 200),
        ("GET", 404),
        ("GET", 400),
        ("GET", 404),
        ("GET", 401),
    ]
    assert [r.key_id for r in rows] == [key.pk] * 4 + [None]
    assert [r.agency_id for r in rows] == [world.agency_a.pk] * 4 + [None]
    assert rows[0].path == "/api/v1/tenants"
    assert "leaked-secret" not in rows[2].path
    assert "access_token=***" in rows[2].path
    assert all(r.duration_ms >= 0 and r.ip_address == "127.0.0.1" for r in rows)
    assert not any(api.secret in r.path for r in rows)


def test_a_revoked_keys_attempts_are_logged_under_its_agency(world: World, api: Api) -> None:
    key = ApiKey.objects.get(agency=world.agency_a)
    api_key_revoke(key=key, user=world.agency_admin_a)
    api.get("tenants")
    entry = ApiRequestLog.objects.get()
    assert (entry.key_id, entry.agency_id, entry.status) == (key.pk, world.agency_a.pk, 401)


def test_create_api_key_prints_the_key_once_and_it_works(world: World) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_key",
        "--agency", world.agency_a.slug, "--name", "Billing", "--scopes", "read,write",
        stdout=out, stderr=err,
    )  # fmt: skip
    secret = out.getvalue().strip()
    key = ApiKey.objects.get(name="Billing")
    assert secret.startswith("clk_")
    assert "\n" not in secret
    assert (key.scopes, key.created_by) == (["read", "write"], world.agency_admin_a)
    assert key.prefix in err.getvalue()
    assert secret not in err.getvalue()
    assert Api(secret).get("tenants").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "nope", "--name", "x", "--scopes", "read"], "No agency with slug 'nope'"),
        (["--agency", "A", "--name", "x", "--scopes", "read,sudo"], "Unknown scope 'sudo'"),
        (["--agency", "A", "--name", "  ", "--scopes", "read"], "Give the key a name"),
        (["--agency", "A", "--name", "x", "--scopes", ""], "at least one scope"),
        (
            ["--agency", "A", "--name", "x", "--scopes", "read", "--user", "nobody@example.com"],
            "No user with email",
        ),
        (["--agency", "A", "--name", "x", "--scopes", "read", "--user", "STAFF"], "not an agency"),
        (["--agency", "B", "--name", "x", "--scopes", "read"], "has no agency admin"),
    ],
)
def test_create_api_key_refuses_bad_input_with_one_line(
    world: World, args: list[str], message: str
) -> None:
    args = [
        {"A": world.agency_a.slug, "B": world.agency_b.slug, "STAFF": world.staff_a.email}.get(
            arg, arg
        )
        for arg in args
    ]
    with pytest.raises(CommandError, match=message) as raised:
        call_command("create_api_key", *args)
    assert "\n" not in str(raised.value)
    assert not ApiKey.objects.exists()
