"""A tenant's *Settings* page: rename, archive and restore (its agency's admins and staff),
delete (its agency's admins, confirmed by typing the tenant's name)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Tenant
from accounts.selectors import can_delete_tenant, can_manage_tenant, tenant_get
from accounts.services import (
    TENANT_NAME_MAX,
    AccountsError,
    tenant_archive,
    tenant_rename,
    tenant_restore,
)
from linker.linking.tenants import tenant_delete_confirmed
from linker.platform.errors import NON_FIELD, LinkerError
from linker.views.forms import single_line
from linker.views.responses import see_other, tenant_url


class RenameForm(forms.Form):
    name = forms.CharField(max_length=TENANT_NAME_MAX, label="Name", validators=[single_line])


class DeleteForm(forms.Form):
    confirm_name = forms.CharField(
        max_length=TENANT_NAME_MAX, label="Type the tenant's name to confirm"
    )


def _settings_url(tenant: Tenant) -> str:
    return reverse("tenant_settings", kwargs={"tenant_id": tenant.pk})


def _settings_page(
    request: HttpRequest,
    tenant: Tenant,
    *,
    rename_form: RenameForm | None = None,
    delete_form: DeleteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "tenant": tenant,
        "rename_form": rename_form or RenameForm(initial={"name": tenant.name}),
        "delete_form": delete_form or DeleteForm(),
        "can_delete": can_delete_tenant(user=request.user, tenant=tenant),
    }
    return render(request, "people/tenant_settings.html", context, status=status)


def _managed_tenant(request: HttpRequest, tenant_id: int) -> Tenant:
    tenant = tenant_get(user=request.user, id=tenant_id)
    if not can_manage_tenant(user=request.user, tenant=tenant):
        raise PermissionDenied("Only the agency's admins and staff change a tenant's settings.")
    return tenant


@require_http_methods(["GET", "POST"])
@login_required
def tenant_settings_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    """The settings page; a POST renames the tenant."""
    tenant = _managed_tenant(request, tenant_id)
    if request.method != "POST":
        return _settings_page(request, tenant)
    form = RenameForm(request.POST)
    if form.is_valid():
        try:
            renamed = tenant_rename(
                actor=request.user, tenant=tenant, name=form.cleaned_data["name"]
            )
        except AccountsError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Renamed to {renamed.name}.")
            return see_other(_settings_url(renamed))
    return _settings_page(request, tenant, rename_form=form, status=400)


@require_POST
@login_required
def tenant_archive_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = _managed_tenant(request, tenant_id)
    try:
        tenant_archive(actor=request.user, tenant=tenant)
    except AccountsError as exc:
        messages.info(request, str(exc))
    else:
        messages.success(
            request,
            f"{tenant.name} is archived: off the dashboard (see the Archived filter) and no "
            "longer synced. Its data is kept; restore it at any time.",
        )
    return see_other(_settings_url(tenant))


@require_POST
@login_required
def tenant_restore_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = _managed_tenant(request, tenant_id)
    try:
        tenant_restore(actor=request.user, tenant=tenant)
    except AccountsError as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, f"{tenant.name} is restored and syncs on its schedule again.")
    return see_other(tenant_url(tenant.pk))


@require_POST
@login_required
def tenant_delete_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = _managed_tenant(request, tenant_id)
    form = DeleteForm(request.POST)
    if form.is_valid():
        try:
            tenant_delete_confirmed(
                user=request.user, tenant=tenant, typed_name=form.cleaned_data["confirm_name"]
            )
        except LinkerError as exc:
            for field, problems in exc.field_errors.items():
                for problem in problems:
                    form.add_error(None if field == NON_FIELD else field, problem)
        else:
            messages.success(
                request, f"{tenant.name} is deleted, with its Copernica link and mirrored data."
            )
            return see_other(reverse("home"))
    return _settings_page(request, tenant, delete_form=form, status=400)
