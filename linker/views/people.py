"""Who may see what: an agency's *Members* page (its admins only) and a tenant's *People* page.

Invite by email with a role, change a role, remove someone, and send again or revoke an
invitation nobody has used yet. Every change goes through ``accounts.services`` (the same rules
as ``manage.py add_member`` / ``remove_member``: who may grant which role, never without an
agency admin) and is logged there; a refused change is shown next to the control that asked.
"""

from __future__ import annotations

from collections.abc import Sequence
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


# ------------------------------------------------------------------------------ agency members


def _members_url(agency: Agency) -> str:
    return reverse("agency_members", kwargs={"agency_id": agency.pk})


def _members_page(
    request: HttpRequest,
    agency: Agency,
    *,
    form: InviteForm | None = None,
    row_errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    roles = grantable_roles(user=request.user, agency=agency)
    members = agency_member_list(user=request.user, agency=agency)
    return render(
        request,
        "people/agency_members.html",
        {
            "agency": agency,
            "members": _rows([m for m in members if not m.pending], row_errors),
            "pending": _rows([m for m in members if m.pending], row_errors),
            "admins": sum(1 for m in members if m.membership.role == Role.AGENCY_ADMIN),
            "form": form or InviteForm(roles=roles, initial={"role": Role.AGENCY_STAFF}),
            "role_choices": _roles_choices(roles),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def agency_members_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    """The agency's admins and staff, with the invitation form (its admins only; 404 else)."""
    agency = administered_agency_get(user=request.user, id=agency_id)
    if request.method != "POST":
        return _members_page(request, agency)
    form = InviteForm(request.POST, roles=grantable_roles(user=request.user, agency=agency))
    if form.is_valid():
        try:
            invitation = member_invite(
                actor=_actor(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                agency=agency,
                base_url=_base_url(request),
            )
        except LinkerError as exc:
            _form_errors(form, exc)
        else:
            _invited_message(request, invitation.emailed_to, form.cleaned_data["role"])
            return see_other(_members_url(agency))
    return _members_page(request, agency, form=form, status=400)


@require_POST
@login_required
def agency_member_role_view(
    request: HttpRequest, agency_id: int, membership_id: int
) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    membership = membership_get(user=request.user, id=membership_id, agency=agency)
    form = RoleForm(request.POST, roles=grantable_roles(user=request.user, agency=agency))
    if not form.is_valid():
        return _members_page(
            request, agency, row_errors={membership.pk: "Choose one of the roles."}, status=400
        )
    try:
        changed = membership_role_change(
            actor=_actor(request), membership=membership, role=form.cleaned_data["role"]
        )
    except AccountsError as exc:
        return _members_page(request, agency, row_errors={membership.pk: str(exc)}, status=400)
    messages.success(request, f"{membership.user.email} is now {changed.get_role_display()}.")
    if not is_agency_admin(user=request.user, agency=agency):
        return see_other(reverse("home"))  # the actor gave up their own admin role
    return see_other(_members_url(agency))


@require_POST
@login_required
def agency_member_remove_view(
    request: HttpRequest, agency_id: int, membership_id: int
) -> HttpResponse:
    """Remove a member, or revoke an invitation nobody used (the page asked to confirm)."""
    agency = administered_agency_get(user=request.user, id=agency_id)
    membership = membership_get(user=request.user, id=membership_id, agency=agency)
    try:
        membership_remove(user=membership.user, agency=agency, actor=_actor(request))
    except AccountsError as exc:
        return _members_page(request, agency, row_errors={membership.pk: str(exc)}, status=400)
    messages.success(request, _removed_message(membership))
    return see_other(_members_url(agency))


@require_POST
@login_required
def agency_member_resend_view(
    request: HttpRequest, agency_id: int, membership_id: int
) -> HttpResponse:
    agency = administered_agency_get(user=request.user, id=agency_id)
    membership = membership_get(user=request.user, id=membership_id, agency=agency)
    try:
        email = invitation_resend(
            actor=_actor(request), membership=membership, base_url=_base_url(request)
        )
    except LinkerError as exc:
        return _members_page(request, agency, row_errors={membership.pk: exc.message}, status=400)
    _resent_message(request, email)
    return see_other(_members_url(agency))


def _removed_message(membership: Membership) -> str:
    if membership.user.last_login is None:
        return f"Invitation of {membership.user.email} revoked; its link no longer works."
    return f"{membership.user.email} removed. Their sessions have ended."


# ------------------------------------------------------------------------------ tenant people


def _people_url(tenant: Tenant) -> str:
    return reverse("tenant_people", kwargs={"tenant_id": tenant.pk})


def _people_page(
    request: HttpRequest,
    tenant: Tenant,
    *,
    form: InviteForm | None = None,
    row_errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    roles = grantable_roles(user=request.user, tenant=tenant)
    people = tenant_people_list(user=request.user, tenant=tenant)
    return render(
        request,
        "people/tenant_people.html",
        {
            "tenant": tenant,
            "through_agency": people.through_agency,
            "members": _rows([m for m in people.members if not m.pending], row_errors),
            "pending": _rows([m for m in people.members if m.pending], row_errors),
            "can_manage_people": bool(roles),
            "form": form or InviteForm(roles=roles, initial={"role": Role.TENANT_VIEWER}),
            "role_choices": _roles_choices(roles),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def tenant_people_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    """Who may see the tenant; its agency's people and tenant admins invite and change here."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    if request.method != "POST":
        return _people_page(request, tenant)
    if not can_manage_people(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow inviting people to this tenant.")
    form = InviteForm(request.POST, roles=grantable_roles(user=request.user, tenant=tenant))
    if form.is_valid():
        try:
            invitation = member_invite(
                actor=_actor(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                tenant=tenant,
                base_url=_base_url(request),
            )
        except LinkerError as exc:
            _form_errors(form, exc)
        else:
            _invited_message(request, invitation.emailed_to, form.cleaned_data["role"])
            return see_other(_people_url(tenant))
    return _people_page(request, tenant, form=form, status=400)


@require_POST
@login_required
def tenant_person_role_view(
    request: HttpRequest, tenant_id: int, membership_id: int
) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    membership = membership_get(user=request.user, id=membership_id, tenant=tenant)
    form = RoleForm(request.POST, roles=grantable_roles(user=request.user, tenant=tenant))
    if not form.is_valid():
        return _people_page(
            request, tenant, row_errors={membership.pk: "Choose one of the roles."}, status=400
        )
    try:
        changed = membership_role_change(
            actor=_actor(request), membership=membership, role=form.cleaned_data["role"]
        )
    except AccountsError as exc:
        return _people_page(request, tenant, row_errors={membership.pk: str(exc)}, status=400)
    messages.success(request, f"{membership.user.email} is now {changed.get_role_display()}.")
    return see_other(_people_url(tenant))


@require_POST
@login_required
def tenant_person_remove_view(
    request: HttpRequest, tenant_id: int, membership_id: int
) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    membership = membership_get(user=request.user, id=membership_id, tenant=tenant)
    try:
        membership_remove(user=membership.user, tenant=tenant, actor=_actor(request))
    except AccountsError as exc:
        return _people_page(request, tenant, row_errors={membership.pk: str(exc)}, status=400)
    messages.success(request, _removed_message(membership))
    return see_other(_people_url(tenant))


@require_POST
@login_required
def tenant_person_resend_view(
    request: HttpRequest, tenant_id: int, membership_id: int
) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    membership = membership_get(user=request.user, id=membership_id, tenant=tenant)
    try:
        email = invitation_resend(
            actor=_actor(request), membership=membership, base_url=_base_url(request)
        )
    except LinkerError as exc:
        return _people_page(request, tenant, row_errors={membership.pk: exc.message}, status=400)
    _resent_message(request, email)
    return see_other(_people_url(tenant))
