"""Who may see what: an agency's *Members* page (its admins only) and a tenant's *People* page.

Invite by email with a role, change a role, remove someone, and send again or revoke an
invitation nobody has used yet. Every change goes through ``accounts.services`` (the same rules
as ``manage.py add_member`` / ``remove_member``: who may grant which role, never without an
agency admin) and is logged there; a refused change is shown next to the control that asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Agency, Membership, Role, Tenant, User
from accounts.selectors import (
    Member,
    administered_agency_get,
    agency_member_list,
    can_manage_people,
    grantable_roles,
    is_agency_admin,
    membership_get,
    tenant_get,
    tenant_people_list,
)
from accounts.services import AccountsError, membership_remove, membership_role_change
from linker.linking.invitations import invitation_resend, member_invite
from linker.platform.errors import NON_FIELD, LinkerError
from linker.views.responses import see_other


def _roles_choices(roles: Sequence[Role]) -> list[tuple[str, str]]:
    return [(role.value, role.label) for role in roles]


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address")
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, roles: Sequence[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _roles_choices(roles)  # type: ignore[attr-defined]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, roles: Sequence[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _roles_choices(roles)  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required
    return request.user


def _base_url(request: HttpRequest) -> str:
    # The configured address, like password reset links: never a Host header someone sent.
    return settings.LINKER_BASE_URL or request.build_absolute_uri("/")


def _form_errors(form: forms.Form, error: LinkerError) -> None:
    for field, problems in error.field_errors.items():
        for problem in problems:
            form.add_error(
                None if field == NON_FIELD or field not in form.fields else field, problem
            )


def _rows(members: list[Member], errors: dict[int, str] | None) -> list[tuple[Member, str]]:
    """Each member with the error of the control used on their row (if it was refused)."""
    errors = errors or {}
    return [(member, errors.get(member.membership.pk, "")) for member in members]


def _invited_message(request: HttpRequest, email: str, role: str) -> None:
    messages.success(request, f"Invited {email} as {Role(role).label}. We emailed them a link.")


def _resent_message(request: HttpRequest, email: str) -> None:
    messages.success(request, f"Invitation sent again to {email}.")


def _removed_message(membership: Membership) -> str:
    if membership.user.last_login is None:
        return f"Invitation of {membership.user.email} revoked; its link no longer works."
    return f"{membership.user.email} removed. Their sessions have ended."


# -------------------------------------------------------------------- either page, by its scope


@dataclass(frozen=True)
class _Scope:
    """Whose people a page manages: an agency's (its *Members* page) or a tenant's (its
    *People* page). Exactly one is set; both are passed on, as the ``accounts`` and invitation
    functions take either."""

    agency: Agency | None = None
    tenant: Tenant | None = None

    def url(self) -> str:
        if self.agency is not None:
            return reverse("agency_members", kwargs={"agency_id": self.agency.pk})
        assert self.tenant is not None
        return reverse("tenant_people", kwargs={"tenant_id": self.tenant.pk})

    def roles(self, request: HttpRequest) -> tuple[Role, ...]:
        return grantable_roles(user=request.user, agency=self.agency, tenant=self.tenant)

    def membership(self, request: HttpRequest, membership_id: int) -> Membership:
        return membership_get(
            user=request.user, id=membership_id, agency=self.agency, tenant=self.tenant
        )


def _page(
    request: HttpRequest,
    scope: _Scope,
    *,
    form: InviteForm | None = None,
    row_errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    roles = scope.roles(request)
    context: dict[str, Any]
    if scope.agency is not None:
        members = agency_member_list(user=request.user, agency=scope.agency)
        template, initial_role = "people/agency_members.html", Role.AGENCY_STAFF
        context = {
            "agency": scope.agency,
            "admins": sum(1 for m in members if m.membership.role == Role.AGENCY_ADMIN),
        }
    else:
        assert scope.tenant is not None
        people = tenant_people_list(user=request.user, tenant=scope.tenant)
        members = people.members
        template, initial_role = "people/tenant_people.html", Role.TENANT_VIEWER
        context = {
            "tenant": scope.tenant,
            "through_agency": people.through_agency,
            "can_manage_people": bool(roles),
        }
    context |= {
        "members": _rows([m for m in members if not m.pending], row_errors),
        "pending": _rows([m for m in members if m.pending], row_errors),
        "form": form or InviteForm(roles=roles, initial={"role": initial_role}),
        "role_choices": _roles_choices(roles),
    }
    return render(request, template, context, status=status)


def _invite(request: HttpRequest, scope: _Scope) -> HttpResponse:
    form = InviteForm(request.POST, roles=scope.roles(request))
    if form.is_valid():
        try:
            invitation = member_invite(
                actor=_actor(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                agency=scope.agency,
                tenant=scope.tenant,
                base_url=_base_url(request),
            )
        except LinkerError as exc:
            _form_errors(form, exc)
        else:
            _invited_message(request, invitation.emailed_to, form.cleaned_data["role"])
            return see_other(scope.url())
    return _page(request, scope, form=form, status=400)


def _role_change(request: HttpRequest, scope: _Scope, membership_id: int) -> HttpResponse:
    membership = scope.membership(request, membership_id)
    form = RoleForm(request.POST, roles=scope.roles(request))
    if not form.is_valid():
        return _page(
            request, scope, row_errors={membership.pk: "Choose one of the roles."}, status=400
        )
    try:
        changed = membership_role_change(
            actor=_actor(request), membership=membership, role=form.cleaned_data["role"]
        )
    except AccountsError as exc:
        return _page(request, scope, row_errors={membership.pk: str(exc)}, status=400)
    messages.success(request, f"{membership.user.email} is now {changed.get_role_display()}.")
    if scope.agency is not None and not is_agency_admin(user=request.user, agency=scope.agency):
        return see_other(reverse("home"))  # the actor gave up their own admin role
    return see_other(scope.url())


def _remove(request: HttpRequest, scope: _Scope, membership_id: int) -> HttpResponse:
    membership = scope.membership(request, membership_id)
    try:
        membership_remove(
            user=membership.user, agency=scope.agency, tenant=scope.tenant, actor=_actor(request)
        )
    except AccountsError as exc:
        return _page(request, scope, row_errors={membership.pk: str(exc)}, status=400)
    messages.success(request, _removed_message(membership))
    return see_other(scope.url())


def _resend(request: HttpRequest, scope: _Scope, membership_id: int) -> HttpResponse:
    membership = scope.membership(request, membership_id)
    try:
        email = invitation_resend(
            actor=_actor(request), membership=membership, base_url=_base_url(request)
        )
    except LinkerError as exc:
        return _page(request, scope, row_errors={membership.pk: exc.message}, status=400)
    _resent_message(request, email)
    return see_other(scope.url())


# ------------------------------------------------------------------------------ agency members


def _agency(request: HttpRequest, agency_id: int) -> _Scope:
    return _Scope(agency=administered_agency_get(user=request.user, id=agency_id))


@require_http_methods(["GET", "POST"])
@login_required
def agency_members_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    """The agency's admins and staff, with the invitation form (its admins only; 404 else)."""
    scope = _agency(request, agency_id)
    if request.method != "POST":
        return _page(request, scope)
    return _invite(request, scope)


@require_POST
@login_required
def agency_member_role_view(
    request: HttpRequest, agency_id: int, membership_id: int
) -> HttpResponse:
    return _role_change(request, _agency(request, agency_id), membership_id)


@require_POST
@login_required
def agency_member_remove_view(
    request: HttpRequest, agency_id: int, membership_id: int
) -> HttpResponse:
    """Remove a member, or revoke an invitation nobody used (the page asked to confirm)."""
    return _remove(request, _agency(request, agency_id), membership_id)


@require_POST
@login_required
def agency_member_resend_view(
    request: HttpRequest, agency_id: int, membership_id: int
) -> HttpResponse:
    return _resend(request, _agency(request, agency_id), membership_id)


# ------------------------------------------------------------------------------ tenant people


def _tenant(request: HttpRequest, tenant_id: int) -> _Scope:
    return _Scope(tenant=tenant_get(user=request.user, id=tenant_id))


@require_http_methods(["GET", "POST"])
@login_required
def tenant_people_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    """Who may see the tenant; its agency's people and tenant admins invite and change here."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    scope = _Scope(tenant=tenant)
    if request.method != "POST":
        return _page(request, scope)
    if not can_manage_people(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow inviting people to this tenant.")
    return _invite(request, scope)


@require_POST
@login_required
def tenant_person_role_view(
    request: HttpRequest, tenant_id: int, membership_id: int
) -> HttpResponse:
    return _role_change(request, _tenant(request, tenant_id), membership_id)


@require_POST
@login_required
def tenant_person_remove_view(
    request: HttpRequest, tenant_id: int, membership_id: int
) -> HttpResponse:
    return _remove(request, _tenant(request, tenant_id), membership_id)


@require_POST
@login_required
def tenant_person_resend_view(
    request: HttpRequest, tenant_id: int, membership_id: int
) -> HttpResponse:
    return _resend(request, _tenant(request, tenant_id), membership_id)
