"""Writes to the accounts domain: agencies, tenants, members."""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
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
from accounts.selectors import AnyUser, can_delete_tenant, can_manage_tenant, grantable_roles


class AccountsError(ValueError):
    """A request to change agencies, tenants or members that cannot be carried out."""


class LastAdminError(AccountsError):
    """The change would leave an agency without an admin: no one could manage its members."""


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


def membership_grant_check(
    *, actor: AnyUser, role: str, agency: Agency | None = None, tenant: Tenant | None = None
) -> None:
    """``PermissionDenied`` unless ``actor`` may give, change or take away ``role`` there.

    The rules (``accounts.selectors.grantable_roles``): an agency's admins manage its admins and
    staff; its admins and staff, and a tenant's own admins, manage that tenant's admins and
    viewers. So agency staff cannot make anyone an agency admin (themselves included), and a
    tenant admin cannot hand out an agency role.
    """
    if role not in grantable_roles(user=actor, agency=agency, tenant=tenant):
        if agency is not None:
            raise PermissionDenied("Only the agency's admins can change its members.")
        raise PermissionDenied("Your role does not allow changing who may see this tenant.")


def _agency_lock(agency: Agency) -> None:
    # Two admins demoting or removing each other at once: the second waits here, then sees
    # the first one's change and is refused, so the agency never ends up without an admin.
    Agency.objects.select_for_update().filter(pk=agency.pk).values_list("pk").first()


def _last_admin_check(*, user: User, agency: Agency, doing: str) -> None:
    others = Membership.objects.filter(agency=agency, role=Role.AGENCY_ADMIN).exclude(user=user)
    if not others.exists():
        raise LastAdminError(
            f"{user.email} is the last admin of {agency.name}: make someone else an admin "
            f"first, then {doing}."
        )


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

    ``actor`` (who did it; none for an operator's command) goes into the agency's security log
    and must be allowed to grant the role there (:func:`membership_grant_check`). The agency's
    last admin is never demoted (:class:`LastAdminError`), whoever asks.
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
    if actor is not None:
        membership_grant_check(actor=actor, role=role_value, agency=agency, tenant=tenant)
    if agency is not None:
        _agency_lock(agency)
    scope = {"agency": agency} if agency is not None else {"tenant": tenant}
    previous = (
        Membership.objects.select_for_update().filter(user=user, **scope).values("role").first()
    )
    if (
        agency is not None
        and previous is not None
        and previous["role"] == Role.AGENCY_ADMIN
        and role_value != Role.AGENCY_ADMIN
    ):
        _last_admin_check(user=user, agency=agency, doing="change their role")
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
    device must not outlive the access it was opened with. Someone invited who never signed in
    and has no role left loses the emailed set-password link too (revoking an invitation).
    ``actor``, when given, must be allowed to manage that role (:func:`membership_grant_check`);
    the agency's last admin is never removed (:class:`LastAdminError`). Their queued profile
    changes are not touched here: the outbox cancels a change whose author lost access when it
    comes to send it (reliability.md case 36).
    """
    scope = {"agency": agency} if agency is not None else {"tenant": tenant}
    if agency is not None:
        _agency_lock(agency)
    removed = list(
        Membership.objects.select_for_update()
        .filter(user=user, **scope)
        .values_list("role", flat=True)
    )
    if not removed:
        return 0
    if actor is not None:
        membership_grant_check(actor=actor, role=removed[0], agency=agency, tenant=tenant)
    if agency is not None and removed[0] == Role.AGENCY_ADMIN:
        _last_admin_check(user=user, agency=agency, doing="remove them")
    deleted, _ = Membership.objects.filter(user=user, **scope).delete()
    if deleted:
        user_sessions_end(user=user)
        if (
            user.last_login is None
            and not user.has_usable_password()
            and not Membership.objects.filter(user=user).exists()
        ):
            # A new unusable password changes the hash every set-password token is bound to.
            user.set_unusable_password()
            user.save(update_fields=["password"])
        where = _scope_name(agency=agency, tenant=tenant)
        security_event_record(
            kind=SecurityEventKind.MEMBER_REMOVED,
            user=actor,
            agencies=_scope_agencies(agency=agency, tenant=tenant),
            detail=f"{user.email} removed as {Role(removed[0]).label} of {where}; "
            "their sessions were ended.",
        )
    return deleted


@transaction.atomic
def membership_role_change(*, actor: User, membership: Membership, role: str) -> Membership:
    """Change a member's role within the same agency or tenant (logged).

    ``actor`` must be allowed to manage both the role held and the one given, and the agency's
    last admin stays an admin (:class:`LastAdminError`).
    """
    membership_grant_check(
        actor=actor, role=membership.role, agency=membership.agency, tenant=membership.tenant
    )
    return membership_add(
        user=membership.user,
        role=role,
        agency=membership.agency,
        tenant=membership.tenant,
        actor=actor,
    )


# One line of text: a tenant's name goes into email subjects, where a line break is an error.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TENANT_NAME_MAX = Tenant._meta.get_field("name").max_length or 200


def _tenant_manage_check(*, actor: AnyUser, tenant: Tenant, what: str) -> None:
    if not can_manage_tenant(user=actor, tenant=tenant):
        raise PermissionDenied(f"Only the agency's admins and staff can {what} a tenant.")


def _tenant_log(*, actor: AnyUser, tenant: Tenant, kind: SecurityEventKind, detail: str) -> None:
    security_event_record(
        kind=kind,
        user=actor if isinstance(actor, User) else None,
        agencies=_scope_agencies(agency=None, tenant=tenant),
        detail=detail,
    )


def _tenant_locked(tenant: Tenant) -> Tenant:
    # ``of``: the agency is an outer join (a tenant may have none), which cannot be locked.
    return Tenant.objects.select_for_update(of=("self",)).select_related("agency").get(pk=tenant.pk)


def tenant_name_clean(name: str) -> str:
    """The name as stored: one line, trimmed, not empty and not too long (``AccountsError``)."""
    name = name.strip()
    if not name:
        raise AccountsError("A tenant needs a name.")
    if _CONTROL.search(name):
        raise AccountsError("Use one line of text, without line breaks or control characters.")
    if len(name) > TENANT_NAME_MAX:
        raise AccountsError(f"At most {TENANT_NAME_MAX} characters.")
    return name


@transaction.atomic
def tenant_rename(*, actor: AnyUser, tenant: Tenant, name: str) -> Tenant:
    """Rename a tenant (the agency's admins and staff; logged)."""
    _tenant_manage_check(actor=actor, tenant=tenant, what="rename")
    name = tenant_name_clean(name)
    locked = _tenant_locked(tenant)
    if locked.name == name:
        return locked
    before, locked.name = locked.name, name
    locked.save(update_fields=["name"])
    _tenant_log(
        actor=actor,
        tenant=locked,
        kind=SecurityEventKind.TENANT_RENAMED,
        detail=f"{before} renamed to {name}.",
    )
    return locked


@transaction.atomic
def tenant_archive(*, actor: AnyUser, tenant: Tenant) -> Tenant:
    """Archive a tenant: off the dashboard's default list and no syncs started, until restored.

    Everything it holds is kept; the linker's services read ``archived_at`` to start no sync.
    """
    _tenant_manage_check(actor=actor, tenant=tenant, what="archive")
    locked = _tenant_locked(tenant)
    if locked.archived_at is not None:
        raise AccountsError(f"{locked.name} is archived already.")
    locked.archived_at = timezone.now()
    locked.save(update_fields=["archived_at"])
    _tenant_log(
        actor=actor,
        tenant=locked,
        kind=SecurityEventKind.TENANT_ARCHIVED,
        detail=f"{locked.name} archived: hidden from the dashboard, no syncs started.",
    )
    return locked


@transaction.atomic
def tenant_restore(*, actor: AnyUser, tenant: Tenant) -> Tenant:
    """Bring an archived tenant back: listed again, and its schedule syncs it again."""
    _tenant_manage_check(actor=actor, tenant=tenant, what="restore")
    locked = _tenant_locked(tenant)
    if locked.archived_at is None:
        raise AccountsError(f"{locked.name} is not archived.")
    locked.archived_at = None
    locked.save(update_fields=["archived_at"])
    _tenant_log(
        actor=actor,
        tenant=locked,
        kind=SecurityEventKind.TENANT_RESTORED,
        detail=f"{locked.name} restored.",
    )
    return locked


@transaction.atomic
def tenant_delete(*, actor: AnyUser, tenant: Tenant) -> None:
    """Delete a tenant and every row that belongs to it (only the agency's admins; logged).

    The linker disconnects its link and deletes its mirror first (``linker.linking.tenants``);
    the security log keeps the record, as it belongs to the agency.
    """
    if not can_delete_tenant(user=actor, tenant=tenant):
        raise PermissionDenied("Only the agency's admins can delete a tenant.")
    _tenant_log(
        actor=actor,
        tenant=tenant,
        kind=SecurityEventKind.TENANT_DELETED,
        detail=f"{tenant.name} deleted, with its link, mirror and history.",
    )
    Tenant.objects.filter(pk=tenant.pk).delete()
