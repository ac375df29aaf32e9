"""Plain factory functions for the models the tests need."""

from __future__ import annotations

import itertools

from accounts.models import Agency, Membership, Role, Tenant, User

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"


def make_user(*, email: str | None = None, password: str = PASSWORD, **extra: object) -> User:
    return User.objects.create_user(
        email=email or f"user{next(_seq)}@example.com", password=password, **extra
    )


def make_agency(*, name: str | None = None) -> Agency:
    n = next(_seq)
    return Agency.objects.create(name=name or f"Agency {n}", slug=f"agency-{n}")


def make_tenant(*, agency: Agency | None = None, name: str | None = None) -> Tenant:
    return Tenant.objects.create(name=name or f"Tenant {next(_seq)}", agency=agency)


def make_member(
    *,
    role: Role,
    agency: Agency | None = None,
    tenant: Tenant | None = None,
    user: User | None = None,
) -> User:
    user = user or make_user()
    Membership.objects.create(user=user, role=role, agency=agency, tenant=tenant)
    return user
