"""Single-use connect links: a client's admin without a login links one tenant."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_manage_tenant
from linker.models import ConnectLink
from linker.platform.vault import lookup_hash

CONNECT_LINK_TTL = timedelta(days=7)


def connect_link_create(*, tenant: Tenant, user: AnyUser) -> tuple[ConnectLink, str]:
    """A new invitation for ``tenant``; returns it and its secret token (shown once)."""
    if not can_manage_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Only agency staff can create connect links.")
    token = secrets.token_urlsafe(32)
    connect_link = ConnectLink.objects.create(
        token_hash=lookup_hash(token),
        tenant=tenant,
        created_by=user if user.is_authenticated else None,
        expires_at=timezone.now() + CONNECT_LINK_TTL,
    )
    return connect_link, token


def connect_link_is_open(connect_link: ConnectLink) -> bool:
    return (
        connect_link.used_at is None
        and connect_link.revoked_at is None
        and connect_link.expires_at > timezone.now()
    )


def connect_link_revoke(*, connect_link: ConnectLink, user: AnyUser) -> None:
    if not can_manage_tenant(user=user, tenant=connect_link.tenant):
        raise PermissionDenied("Only agency staff can revoke connect links.")
    ConnectLink.objects.filter(pk=connect_link.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def connect_link_open_get(*, token: str) -> ConnectLink | None:
    """The open invitation behind ``token``, or ``None`` (unknown, used, revoked, expired)."""
    if not token or len(token) > 128:
        return None
    connect_link = (
        ConnectLink.objects.select_related("tenant__agency")
        .filter(token_hash=lookup_hash(token))
        .first()
    )
    if connect_link is None or not connect_link_is_open(connect_link):
        return None
    return connect_link


def connect_link_mark_opened(*, connect_link: ConnectLink) -> None:
    """Note the first time the client opened the link (the agency sees that it arrived)."""
    if connect_link.opened_at is None:
        now = timezone.now()
        ConnectLink.objects.filter(pk=connect_link.pk, opened_at__isnull=True).update(opened_at=now)
        connect_link.opened_at = now


def connect_link_list(*, tenant: Tenant) -> QuerySet[ConnectLink]:
    return ConnectLink.objects.filter(tenant=tenant).select_related("created_by")


def connect_link_get(*, tenant: Tenant, id: int) -> ConnectLink | None:
    """One connect link of ``tenant`` (reached through ``accounts.selectors``), or ``None``."""
    return ConnectLink.objects.filter(pk=id, tenant=tenant).select_related("tenant").first()
