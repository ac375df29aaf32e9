"""The one way to reach tenants and agencies: every lookup takes the user asking.

A tenant the user may not see and a tenant that does not exist are the same ``Http404``, so
that ids cannot be probed. Views, commands, the admin and the linker all go through here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from accounts.authenticator import AuthenticatorApp
from accounts.models import (
    AGENCY_ROLES,
    TENANT_ROLES,
    Agency,
    Membership,
    Role,
    Tenant,
    TwoFactorPolicy,
    User,
)

AnyUser = User | AnonymousUser

# What each role may do to a tenant it can see.
_LINK_ROLES = frozenset({Role.AGENCY_ADMIN, Role.AGENCY_STAFF, Role.TENANT_ADMIN})
_EDIT_ROLES = _LINK_ROLES
_MANAGE_ROLES = frozenset({Role.AGENCY_ADMIN, Role.AGENCY_STAFF})
# Who invites, changes and removes a tenant's admins and viewers: the agency's people, and the
# tenant's own admins (for their tenant only; never an agency role).
_PEOPLE_ROLES = frozenset({Role.AGENCY_ADMIN, Role.AGENCY_STAFF, Role.TENANT_ADMIN})


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


def can_manage_people(*, user: AnyUser, tenant: Tenant) -> bool:
    """Invite, change and remove the tenant's admins and viewers."""
    return _has_any(user=user, tenant=tenant, roles=_PEOPLE_ROLES)


def can_delete_tenant(*, user: AnyUser, tenant: Tenant) -> bool:
    """Delete the tenant with its link and mirror: its agency's admins only (it cannot be
    undone, unlike archiving, which its agency's staff may do too)."""
    if tenant.agency is not None:
        return is_agency_admin(user=user, agency=tenant.agency)
    member = _active(user)
    return member is not None and member.is_superuser


def grantable_roles(
    *, user: AnyUser, agency: Agency | None = None, tenant: Tenant | None = None
) -> tuple[Role, ...]:
    """The roles ``user`` may give, change or take away in ``agency`` or ``tenant``.

    An agency's roles (admin, staff) only its admins; a tenant's roles (admin, viewer) whoever
    manages its people (:func:`can_manage_people`). Nothing else: a tenant admin never hands
    out an agency role, and agency staff never make anyone (themselves included) an admin of
    the agency.
    """
    if agency is not None:
        allowed = is_agency_admin(user=user, agency=agency)
        roles = (Role.AGENCY_ADMIN, Role.AGENCY_STAFF)
    elif tenant is not None:
        allowed = can_manage_people(user=user, tenant=tenant)
        roles = (Role.TENANT_ADMIN, Role.TENANT_VIEWER)
    else:
        return ()
    return roles if allowed else ()


def _with_two_factor(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    """Each membership with its user and ``two_factor_on`` (a confirmed authenticator app),
    in one query however many there are."""
    return memberships.select_related("user").annotate(
        two_factor_on=Exists(
            AuthenticatorApp.objects.filter(user=OuterRef("user_id"), confirmed=True)
        )
    )


def _policy_roles(agency: Agency) -> frozenset[str]:
    """The agency roles whose sign-in needs a second factor under the agency's policy."""
    return {
        TwoFactorPolicy.OFF: frozenset(),
        TwoFactorPolicy.ADMINS: frozenset({Role.AGENCY_ADMIN.value}),
        TwoFactorPolicy.AGENCY: frozenset({Role.AGENCY_ADMIN.value, Role.AGENCY_STAFF.value}),
    }[TwoFactorPolicy(agency.two_factor)]


@dataclass(frozen=True)
class Member:
    """One row of a members or people list."""

    membership: Membership
    two_factor_on: bool
    two_factor_required: bool

    @property
    def user(self) -> User:
        return self.membership.user

    @property
    def pending(self) -> bool:
        """Invited and never signed in: the invitation can be sent again or revoked."""
        return self.membership.user.last_login is None


def agency_member_list(*, user: AnyUser, agency: Agency) -> list[Member]:
    """The agency's admins and staff, for its admins (``Http404`` for anyone else)."""
    if not is_agency_admin(user=user, agency=agency):
        raise Http404("No such agency.")
    covered = _policy_roles(agency)
    rows = _with_two_factor(Membership.objects.filter(agency=agency)).order_by("user__email")
    return [
        Member(row, bool(row.two_factor_on), row.role in covered)  # type: ignore[attr-defined]
        for row in rows
    ]


@dataclass(frozen=True)
class TenantPeople:
    """Who may see a tenant: its agency's people (through the agency) and its own members."""

    through_agency: list[Member]
    members: list[Member]


def tenant_people_list(*, user: AnyUser, tenant: Tenant) -> TenantPeople:
    """Everyone who may see ``tenant``, for anyone who may see it (``Http404`` otherwise).

    Two queries, however many people.
    """
    if not can_view_tenant(user=user, tenant=tenant):
        raise Http404("No such tenant.")
    agency = tenant.agency
    covered = _policy_roles(agency) if agency is not None else frozenset()
    through: list[Member] = []
    if agency is not None:
        rows = _with_two_factor(Membership.objects.filter(agency=agency)).order_by(
            "role", "user__email"
        )
        through = [
            Member(row, bool(row.two_factor_on), row.role in covered)  # type: ignore[attr-defined]
            for row in rows
        ]
    own = _with_two_factor(Membership.objects.filter(tenant=tenant)).order_by("role", "user__email")
    members = [Member(row, bool(row.two_factor_on), False) for row in own]  # type: ignore[attr-defined]
    return TenantPeople(through_agency=through, members=members)


def membership_get(
    *, user: AnyUser, id: int | str, agency: Agency | None = None, tenant: Tenant | None = None
) -> Membership:
    """A membership of ``agency`` or ``tenant`` that ``user`` may manage; ``Http404`` for an id
    of any other scope, or when ``user`` manages no one there (so ids cannot be probed)."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        raise Http404("No such member.") from None
    if not grantable_roles(user=user, agency=agency, tenant=tenant):
        raise Http404("No such member.")
    if agency is not None:
        scope = Q(agency=agency, role__in=AGENCY_ROLES)
    else:
        scope = Q(tenant=tenant, role__in=TENANT_ROLES)
    membership = Membership.objects.select_related("user").filter(scope, pk=pk).first()
    if membership is None:
        raise Http404("No such member.")
    return membership
