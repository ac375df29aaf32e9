"""Writes to the accounts domain: agencies, tenants, members."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.text import slugify

from accounts.models import (
    AGENCY_ROLES,
    TENANT_ROLES,
    Agency,
    Membership,
    Role,
    SecurityEventKind,
    Tenant,
    User,
)
from accounts.security_log import security_event_record


class AccountsError(ValueError):
    """A request to change agencies, tenants or members that cannot be carried out."""


def agency_create(*, name: str, slug: str | None = None) -> Agency:
    name = name.strip()
    if not name:
        raise AccountsError("An agency needs a name.")
    slug = slugify(slug or name)
    if not slug:
        raise AccountsError(f"Cannot make a slug from {name!r}; pass one with --slug.")
    if Agency.objects.filter(slug=slug).exists():
        raise AccountsError(f"An agency with slug {slug!r} already exists.")
    return Agency.objects.create(name=name, slug=slug)


def tenant_create(*, name: str, agency: Agency | None = None) -> Tenant:
    name = name.strip()
    if not name:
        raise AccountsError("A tenant needs a name.")
    return Tenant.objects.create(name=name, agency=agency)


def user_get_or_create(*, email: str, password: str | None = None) -> tuple[User, bool]:
    """The user with this email, created (with ``password``, or none usable) if new."""
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        User._meta.get_field("email").run_validators(email)
    except ValidationError:
        raise AccountsError(f"{email!r} is not a valid email address.") from None
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user, False
    return User.objects.create_user(email=email, password=password), True


def user_sessions_end(*, user: User) -> None:
    """End every session ``user`` has, everywhere, at once (the one in hand included).

    Each session carries a hash that includes ``session_generation``; after the bump none of
    them matches, and Django ends each one on its next request.
    """
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])


def _scope_agencies(*, agency: Agency | None, tenant: Tenant | None) -> list[Agency]:
    owner = agency or (tenant.agency if tenant is not None else None)
    return [owner] if owner is not None else []


def _scope_name(*, agency: Agency | None, tenant: Tenant | None) -> str:
    return str(agency or tenant)


@transaction.atomic
def membership_add(
    *,
    user: User,
    role: str,
    agency: Agency | None = None,
    tenant: Tenant | None = None,
    actor: User | None = None,
) -> Membership:
    """Give ``user`` ``role`` in an agency or a tenant, replacing their role there if any.

    ``actor`` (who did it; none for a command) goes into the agency's security log.
    """
    try:
        role_value = Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise AccountsError(f"Unknown role {role!r}; use one of: {choices}.") from None
    if role_value in AGENCY_ROLES and (agency is None or tenant is not None):
        raise AccountsError(f"The role {role_value.value} needs an agency (and no tenant).")
    if role_value in TENANT_ROLES and (tenant is None or agency is not None):
        raise AccountsError(f"The role {role_value.value} needs a tenant (and no agency).")
    scope = {"agency": agency} if agency is not None else {"tenant": tenant}
    previous = (
        Membership.objects.select_for_update().filter(user=user, **scope).values("role").first()
    )
    try:
        membership, _ = Membership.objects.update_or_create(
            user=user, **scope, defaults={"role": role_value.value}
        )
    except IntegrityError as exc:  # pragma: no cover - guarded above, kept for races
        raise AccountsError(f"Could not add the membership: {exc}.") from None
    where = _scope_name(agency=agency, tenant=tenant)
    if previous is None:
        kind, detail = (
            SecurityEventKind.MEMBER_ADDED,
            f"{user.email} added as {role_value.label} of {where}.",
        )
    elif previous["role"] != role_value.value:
        kind, detail = (
            SecurityEventKind.MEMBER_ROLE_CHANGED,
            f"{user.email}: {Role(previous['role']).label} of {where} is now {role_value.label}.",
        )
    else:
        return membership
    security_event_record(
        kind=kind,
        user=actor,
        agencies=_scope_agencies(agency=agency, tenant=tenant),
        detail=detail,
    )
    return membership


@transaction.atomic
def membership_remove(
    *,
    user: User,
    agency: Agency | None = None,
    tenant: Tenant | None = None,
    actor: User | None = None,
) -> int:
    """Take away ``user``'s role in an agency or tenant. Returns how many were removed.

    Their sessions end at once, everywhere (``user_sessions_end``): a session open on another
    device must not outlive the access it was opened with.
    """
    scope = {"agency": agency} if agency is not None else {"tenant": tenant}
    removed = list(Membership.objects.filter(user=user, **scope).values_list("role", flat=True))
    deleted, _ = Membership.objects.filter(user=user, **scope).delete()
    if deleted:
        user_sessions_end(user=user)
        where = _scope_name(agency=agency, tenant=tenant)
        security_event_record(
            kind=SecurityEventKind.MEMBER_REMOVED,
            user=actor,
            agencies=_scope_agencies(agency=agency, tenant=tenant),
            detail=f"{user.email} removed as {Role(removed[0]).label} of {where}; "
            "their sessions were ended.",
        )
    return deleted
