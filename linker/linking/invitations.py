"""Bring people on board: create a client's tenant, invite its partner admin, email connect
links; invite members to an agency or a tenant (and send an invitation again)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Agency, Membership, Role, SecurityEventKind, Tenant, User
from accounts.security_log import security_event_record
from accounts.selectors import AnyUser, can_manage_tenant, is_agency_member
from accounts.services import (
    AccountsError,
    membership_add,
    membership_grant_check,
    tenant_create,
    user_get_or_create,
)
from linker.linking.connect_links import CONNECT_LINK_TTL, connect_link_create
from linker.linking.errors import LinkingError
from linker.models import Link
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
    if Link.objects.filter(Link.usable_q(), tenant=tenant).exists():
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


# --------------------------------------------------------------------------- members and people


@dataclass
class MemberInvitation:
    membership: Membership
    new_user: bool
    emailed_to: str


_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _scope_label(membership: Membership) -> str:
    """Where the role is, as the invitee reads it: the agency, or the tenant and its agency."""
    if membership.agency is not None:
        return membership.agency.name
    tenant = membership.tenant
    assert tenant is not None  # a membership has an agency or a tenant
    return f"{tenant.name} ({tenant.agency.name})" if tenant.agency else tenant.name


def _member_email_send(*, membership: Membership, inviter: User, base_url: str) -> None:
    """The invitation: a set-password link for someone without a password yet (the
    ``invite_accept`` page, single-use, valid for ``PASSWORD_RESET_TIMEOUT``), else the way to
    sign in."""
    user = membership.user
    where = _scope_label(membership)
    lines = [
        f"{inviter.get_full_name()} gave you access to {where} in Copernica Linker, as "
        f"{membership.get_role_display()}.",
        "",
    ]
    if user.has_usable_password():
        lines += [
            "Sign in with this email address and your password:",
            base_url.rstrip("/") + reverse("login"),
        ]
    else:
        days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
        lines += [
            f"Choose a password for your login here (the link works once, for {days} days):",
            _set_password_url(base_url=base_url, user=user),
            "",
            "Then sign in with this email address and that password.",
        ]
    # Names come from people: keep the subject one header line whatever they typed.
    subject = _LINE_BREAKS.sub(" ", f"Your access to {where} in Copernica Linker")
    send_mail(subject, "\n".join(lines), None, [user.email])


def member_invite(
    *,
    actor: User,
    email: str,
    role: str,
    base_url: str,
    agency: Agency | None = None,
    tenant: Tenant | None = None,
) -> MemberInvitation:
    """Give the person with ``email`` ``role`` in ``agency`` or ``tenant`` (creating their user
    if new) and email them the invitation.

    ``actor`` must be allowed to grant the role there (``PermissionDenied``). Someone who holds
    a role there already, or sees the tenant through its agency, is refused
    (``InvalidInputError`` on ``email``): their role is changed in the list instead.
    """
    membership_grant_check(actor=actor, role=role, agency=agency, tenant=tenant)
    try:
        with transaction.atomic():
            try:
                user, created = user_get_or_create(email=email)
            except AccountsError as exc:
                raise InvalidInputError(str(exc), field="email") from None
            scope = {"agency": agency} if agency is not None else {"tenant": tenant}
            held = Membership.objects.filter(user=user, **scope).first()
            if held is not None:
                raise InvalidInputError(
                    f"{user.email} is {held.get_role_display()} here already; change their "
                    "role in the list instead.",
                    field="email",
                )
            if tenant is not None and tenant.agency is not None:
                through = Membership.objects.filter(user=user, agency=tenant.agency).first()
                if through is not None:
                    raise InvalidInputError(
                        f"{user.email} sees this tenant already, as "
                        f"{through.get_role_display()} of {tenant.agency.name}.",
                        field="email",
                    )
            membership = membership_add(
                user=user, role=role, agency=agency, tenant=tenant, actor=actor
            )
    except AccountsError as exc:
        raise InvalidInputError(str(exc)) from None
    _member_email_send(membership=membership, inviter=actor, base_url=base_url)
    return MemberInvitation(membership=membership, new_user=created, emailed_to=user.email)


def invitation_resend(*, actor: User, membership: Membership, base_url: str) -> str:
    """Email the invitation again to someone who never signed in; returns their address.

    The earlier set-password links keep working until they are used or expire.
    """
    membership_grant_check(
        actor=actor, role=membership.role, agency=membership.agency, tenant=membership.tenant
    )
    user = membership.user
    if user.last_login is not None:
        raise InvalidInputError(
            f"{user.email} has signed in already: there is no invitation to send again."
        )
    _member_email_send(membership=membership, inviter=actor, base_url=base_url)
    owner = membership.agency or (membership.tenant.agency if membership.tenant else None)
    security_event_record(
        kind=SecurityEventKind.INVITATION_RESENT,
        user=actor,
        agencies=[owner] if owner is not None else [],
        detail=f"Invitation to {user.email} as {membership.get_role_display()} of "
        f"{_scope_label(membership)} sent again.",
    )
    return user.email
