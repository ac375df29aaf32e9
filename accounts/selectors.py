"""The one way to reach tenants and agencies: every lookup takes the user asking.

A tenant the user may not see and a tenant that does not exist are the same ``Http404``, so
that ids cannot be probed. Views, commands, the admin and the linker all go through here.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import AGENCY_ROLES, Agency, Membership, Role, Tenant, User

AnyUser = User | AnonymousUser

# What each role may do to a tenant it can see.
_LINK_ROLES = frozenset({Role.AGENCY_ADMIN, Role.AGENCY_STAFF, Role.TENANT_ADMIN})
_EDIT_ROLES = _LINK_ROLES
_MANAGE_ROLES = frozenset({Role.AGENCY_ADMIN, Role.AGENCY_STAFF})


def _active(user: AnyUser) -> User | None:
    if not user.is_authenticated or not user.is_active:
        return None
    assert isinstance(user, User)
    return user


def tenant_list(*, user: AnyUser) -> QuerySet[Tenant]:
    """Every tenant ``user`` may see: those of their agencies and those they are a member of."""
    member = _active(user)
    if member is None:
        return Tenant.objects.none()
    if member.is_superuser:
        return Tenant.objects.all()
    agency_ids = Membership.objects.filter(user=member, role__in=AGENCY_ROLES).values("agency_id")
    tenant_ids = Membership.objects.filter(user=member, tenant__isnull=False).values("tenant_id")
    return Tenant.objects.filter(Q(agency_id__in=agency_ids) | Q(id__in=tenant_ids))


def tenant_get(*, user: AnyUser, id: int | str) -> Tenant:
    """The tenant ``id`` if ``user`` may see it; otherwise ``Http404``, missing or not."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        raise Http404("No such tenant.") from None
    tenant = tenant_list(user=user).select_related("agency").filter(pk=pk).first()
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


def agency_list(*, user: AnyUser) -> QuerySet[Agency]:
    """The agencies ``user`` works for."""
    member = _active(user)
    if member is None:
        return Agency.objects.none()
    if member.is_superuser:
        return Agency.objects.all()
    return Agency.objects.filter(
        id__in=Membership.objects.filter(user=member, role__in=AGENCY_ROLES).values("agency_id")
    )


def agency_get(*, user: AnyUser, id: int | str) -> Agency:
    """The agency ``id`` if ``user`` works for it; otherwise ``Http404``."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        raise Http404("No such agency.") from None
    agency = agency_list(user=user).filter(pk=pk).first()
    if agency is None:
        raise Http404("No such agency.")
    return agency


def tenant_roles(*, user: AnyUser, tenant: Tenant) -> frozenset[str]:
    """The roles through which ``user`` reaches ``tenant`` (empty when none)."""
    member = _active(user)
    if member is None:
        return frozenset()
    scope = Q(tenant=tenant)
    if tenant.agency_id is not None:
        scope |= Q(agency_id=tenant.agency_id)
    return frozenset(Membership.objects.filter(scope, user=member).values_list("role", flat=True))


def _has_any(*, user: AnyUser, tenant: Tenant, roles: frozenset[Role]) -> bool:
    member = _active(user)
    if member is None:
        return False
    if member.is_superuser:
        return True
    return bool(tenant_roles(user=member, tenant=tenant) & {r.value for r in roles})


def can_view_tenant(*, user: AnyUser, tenant: Tenant) -> bool:
    return tenant_list(user=user).filter(pk=tenant.pk).exists()


def can_link_tenant(*, user: AnyUser, tenant: Tenant) -> bool:
    """Connect, reconnect, disconnect and paste an API token."""
    return _has_any(user=user, tenant=tenant, roles=_LINK_ROLES)


def can_edit_profiles(*, user: AnyUser, tenant: Tenant) -> bool:
    """Create, edit and delete profiles of the tenant's linked account."""
    return _has_any(user=user, tenant=tenant, roles=_EDIT_ROLES)


def can_manage_tenant(*, user: AnyUser, tenant: Tenant) -> bool:
    """Agency work on a tenant: sync now, schedules, connect links."""
    return _has_any(user=user, tenant=tenant, roles=_MANAGE_ROLES)


def is_agency_admin(*, user: AnyUser, agency: Agency) -> bool:
    member = _active(user)
    if member is None:
        return False
    if member.is_superuser:
        return True
    return Membership.objects.filter(user=member, agency=agency, role=Role.AGENCY_ADMIN).exists()


def is_agency_member(*, user: AnyUser, agency: Agency) -> bool:
    return agency_list(user=user).filter(pk=agency.pk).exists()


def administered_agency_list(*, user: AnyUser) -> QuerySet[Agency]:
    """The agencies ``user`` is an agency admin of (every agency for a superuser)."""
    member = _active(user)
    if member is None:
        return Agency.objects.none()
    if member.is_superuser:
        return Agency.objects.all()
    return Agency.objects.filter(
        id__in=Membership.objects.filter(user=member, role=Role.AGENCY_ADMIN).values("agency_id")
    )


def administered_agency_get(*, user: AnyUser, id: int | str) -> Agency:
    """The agency ``id`` if ``user`` administers it; otherwise ``Http404``.

    Its staff, another agency's admin and a missing id all get the same 404.
    """
    try:
        pk = int(id)
    except (TypeError, ValueError):
        raise Http404("No such agency.") from None
    agency = administered_agency_list(user=user).filter(pk=pk).first()
    if agency is None:
        raise Http404("No such agency.")
    return agency
