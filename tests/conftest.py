"""Fixtures shared by the whole suite."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import Agency, Role, Tenant, User
from linker.platform.locks import redis_client
from tests.factories import make_agency, make_member, make_tenant, make_user

pytest_plugins = ["tests.sandbox_plugin", "tests.linked_accounts"]


@dataclass
class World:
    """Two agencies with tenants and one user of each role, for the isolation tests."""

    agency_a: Agency
    agency_b: Agency
    tenant_a1: Tenant
    tenant_a2: Tenant
    tenant_b1: Tenant
    lone_tenant: Tenant
    agency_admin_a: User
    staff_a: User
    staff_b: User
    tenant_admin_a1: User
    viewer_a1: User
    outsider: User


@pytest.fixture
def world(db: None) -> World:
    agency_a, agency_b = make_agency(name="Agency A"), make_agency(name="Agency B")
    tenant_a1 = make_tenant(agency=agency_a, name="Alpha Bikes")
    tenant_a2 = make_tenant(agency=agency_a, name="Alpha Cars")
    tenant_b1 = make_tenant(agency=agency_b, name="Beta Foods")
    lone_tenant = make_tenant(name="Lone Shop")
    return World(
        agency_a=agency_a,
        agency_b=agency_b,
        tenant_a1=tenant_a1,
        tenant_a2=tenant_a2,
        tenant_b1=tenant_b1,
        lone_tenant=lone_tenant,
        agency_admin_a=make_member(role=Role.AGENCY_ADMIN, agency=agency_a),
        staff_a=make_member(role=Role.AGENCY_STAFF, agency=agency_a),
        staff_b=make_member(role=Role.AGENCY_STAFF, agency=agency_b),
        tenant_admin_a1=make_member(role=Role.TENANT_ADMIN, tenant=tenant_a1),
        viewer_a1=make_member(role=Role.TENANT_VIEWER, tenant=tenant_a1),
        outsider=make_user(),
    )


@pytest.fixture(scope="session", autouse=True)
def _clean_redis() -> None:
    """Start from an empty test Redis database: no stale broker messages, locks or caches."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _full_request_budgets(request: pytest.FixtureRequest) -> None:
    """A test with the sandbox starts with every Copernica account's request budget full. The
    sandbox numbers its accounts from the start again for each test, and the budgets are kept
    in Redis by account: a test whose 429 said ``Retry-After: 30`` held the next test's account
    of the same number for 30 s (its fixture's sync waited them out)."""
    if "sandbox" not in request.fixturenames:
        return
    client = redis_client()
    if client is None:
        return
    keys = list(client.scan_iter("budget:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _own_throttle_counts(settings: Any) -> None:
    """Each test counts its own throttled requests: django-ratelimit keeps its counts in Redis,
    which a test's rolled-back transaction does not reset, and every test client is 127.0.0.1."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
