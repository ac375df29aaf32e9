"""Bring a client on board: create its tenant, invite its partner admin, email connect links."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Agency, Membership, Role, Tenant, User
from accounts.selectors import AnyUser, can_manage_tenant, is_agency_member
from accounts.services import AccountsError, membership_add, tenant_create, user_get_or_create
from linker.linking.connect_links import CONNECT_LINK_TTL, connect_link_create
from linker.linking.errors import LinkingError
from linker.models import Link, LinkState
from linker.platform.errors import InvalidInputError


class TenantAlreadyLinkedError(LinkingError):
    """The tenant is linked and in use: a connect link would only let someone relink it."""


@dataclass
class Invitation:
    tenant: Tenant
    admin: User | None
    connect_url: str
    emailed_to: list[str]


def _connect_url(*, base_url: str, token: str) -> str:
    return base_url.rstrip("/") + reverse("connect_link_open", kwargs={"token": token})


def _set_password_url(*, base_url: str, user: User) -> str:
    path = reverse(
        "invite_accept",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return base_url.rstrip("/") + path


def _invite_body(*, tenant: Tenant, connect_url: str, password_url: str | None) -> str:
    agency = tenant.agency.name if tenant.agency else "Your agency"
    days = CONNECT_LINK_TTL.days
    lines = [
        f"{agency} invites you to link the Copernica account of {tenant.name}.",
        "",
        "Connect your Copernica account (one click, then approve at Copernica):",
        connect_url,
        f"This link works once and for {days} days.",
    ]
    if password_url:
        lines += [
            "",
            "To check on the link later, choose a password for your login here:",
            password_url,
        ]
    return "\n".join(lines)


def tenant_create_and_invite(
    *, user: AnyUser, agency: Agency, name: str, admin_email: str, base_url: str
) -> Invitation:
    """Create a tenant of ``agency`` and, given an email, make that person its tenant admin
    and email them a connect link (and a set-password link if they have no password yet)."""
    if not is_agency_member(user=user, agency=agency):
        raise PermissionDenied("Only staff of this agency can create its tenants.")
    admin: User | None = None
    try:
        with transaction.atomic():
            tenant = tenant_create(name=name, agency=agency)
            if admin_email.strip():
                admin, _ = user_get_or_create(email=admin_email)
                membership_add(
                    user=admin,
                    role=Role.TENANT_ADMIN,
                    tenant=tenant,
                    actor=user if isinstance(user, User) else None,
                )
            _, token = connect_link_create(tenant=tenant, user=user)
    except AccountsError as exc:
        raise InvalidInputError(str(exc)) from None
    connect_url = _connect_url(base_url=base_url, token=token)
    emailed: list[str] = []
    if admin is not None:
        password_url = (
            None
            if admin.has_usable_password()
            else _set_password_url(base_url=base_url, user=admin)
        )
        send_mail(
            f"Connect {tenant.name} to Copernica",
            _invite_body(tenant=tenant, connect_url=connect_url, password_url=password_url),
            None,
            [admin.email],
        )
        emailed = [admin.email]
    return Invitation(tenant=tenant, admin=admin, connect_url=connect_url, emailed_to=emailed)


def connect_link_send(*, user: AnyUser, tenant: Tenant, base_url: str) -> Invitation:
    """A fresh connect link for ``tenant``, emailed to its admins (if it has any).

    A tenant already linked and active gets none (``TenantAlreadyLinkedError``).
    """
    if not can_manage_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Only agency staff can send connect links.")
    if Link.objects.filter(
        tenant=tenant, state=LinkState.ACTIVE, access_token_encrypted__gt=""
    ).exists():
        raise TenantAlreadyLinkedError(f"{tenant.name} is already linked; no connect link sent.")
    _, token = connect_link_create(tenant=tenant, user=user)
    connect_url = _connect_url(base_url=base_url, token=token)
    recipients = sorted(
        set(
            Membership.objects.filter(
                tenant=tenant, role=Role.TENANT_ADMIN, user__is_active=True
            ).values_list("user__email", flat=True)
        )
    )
    if recipients:
        send_mail(
            f"Connect {tenant.name} to Copernica",
            _invite_body(tenant=tenant, connect_url=connect_url, password_url=None),
            None,
            recipients,
        )
    return Invitation(tenant=tenant, admin=None, connect_url=connect_url, emailed_to=recipients)
