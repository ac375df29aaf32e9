"""Plain factory functions for the models the tests need."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from accounts.models import Agency, Membership, Role, Tenant, User
from api_client.sandbox.control import SandboxControl
from linker.linking.applications import Hosts, application_register
from linker.models import ApiApplication, Link, LinkState, SyncMode, SyncRun, SyncState
from linker.platform import vault
from linker.platform.keys import token_context

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


def make_link(
    *,
    tenant: Tenant,
    api_token: str,
    sandbox_url: str,
    account_id: str = "",
    account_name: str = "",
) -> Link:
    """An active link to a sandbox account, as if the handshake had just completed."""
    base = sandbox_url.rstrip("/")
    link = Link(
        tenant=tenant,
        state=LinkState.ACTIVE,
        state_changed_at=timezone.now(),
        auth_url=f"{base}/authenticate",
        api_url=f"{base}/v4",
        rest_url=f"{base}/rest/v4",
        copernica_account_id=account_id,
        copernica_account_name=account_name,
        linked_at=timezone.now(),
    )
    link.access_token_encrypted = vault.encrypt(api_token, context=token_context(link))
    link.token_fingerprint = vault.fingerprint(api_token)
    link.save()
    return link


def make_sandbox_application(
    *, sandbox: SandboxControl, agency: Agency, redirect_uri: str
) -> ApiApplication:
    """Register an application at the sandbox and here, as an agency's default."""
    registered = sandbox.register_application("Copernica Linker", redirect_uri)
    return application_register(
        name="Sandbox",
        client_id=registered.client_id,
        client_secret=registered.client_secret,
        redirect_uri=redirect_uri,
        agency=agency,
        hosts=Hosts(
            authorize_url=sandbox.authorize_url,
            token_url=sandbox.token_url,
            auth_url=sandbox.auth_url,
            api_url=sandbox.api_url,
            rest_url=sandbox.rest_url,
        ),
        is_default=True,
    )


def link_tenant(tenant: Tenant, *, state: str = LinkState.ACTIVE, name: str = "") -> Link:
    """A link that looks usable to the pages (its token is encrypted but not a real one)."""
    link = Link(
        tenant=tenant,
        state=state,
        state_changed_at=timezone.now(),
        copernica_account_id=f"acc-{tenant.pk}",
        copernica_account_name=name or f"{tenant.name} Copernica",
        linked_at=timezone.now(),
    )
    link.access_token_encrypted = vault.encrypt("not-a-real-token", context=token_context(link))
    link.save()
    return link


def finished_run(link: Link, *, state: str = SyncState.SUCCEEDED, ago_minutes: int = 10, **extra):  # type: ignore[no-untyped-def]
    finished = timezone.now() - timedelta(minutes=ago_minutes)
    return SyncRun.objects.create(
        link=link,
        mode=extra.pop("mode", SyncMode.FULL),
        state=state,
        started_at=finished - timedelta(seconds=42),
        finished_at=finished,
        **extra,
    )
