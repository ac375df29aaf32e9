"""The profile browser and editor over a tenant's mirror; changes go through the outbox, and a
change in conflict is sent anyway or discarded here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Tenant
from accounts.selectors import can_edit_profiles, tenant_get
from linker.models import RemoteProfile
from linker.platform.errors import LinkerError
from linker.profiles.change_selectors import (
    profile_change_get,
    profile_change_list,
    profile_change_states,
    profile_version,
)
from linker.profiles.changes import profile_change_submit
from linker.profiles.conflicts import profile_change_resolve
from linker.profiles.selectors import (
    ProfileBrowser,
    database_list,
    profile_browse,
    profile_get,
    profile_link_get,
    profile_subprofiles,
)
from linker.views.exports import csv_response
from linker.views.forms import ProfileForm, ResolveForm
from linker.views.responses import see_other


def _profile_url(tenant: Tenant, copernica_id: int) -> str:
    return reverse("profile_detail", kwargs={"tenant_id": tenant.pk, "profile_id": copernica_id})


def _browse(request: HttpRequest, tenant: Tenant, page: object = 1) -> ProfileBrowser:
    return profile_browse(
        tenant=tenant,
        database_id=request.GET.get("db"),
        query=request.GET.get("q", ""),
        field=request.GET.get("field", ""),
        sort=request.GET.get("sort", "id"),
        page=page,
    )


@require_GET
@login_required
def profile_list_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    browser = _browse(request, tenant, request.GET.get("page", 1))
    return render(
        request,
        "profiles/list.html",
        {
            "tenant": tenant,
            "browser": browser,
            "can_edit": can_edit_profiles(user=request.user, tenant=tenant),
            "changes": profile_change_list(tenant=tenant, limit=10),
        },
    )


@require_GET
@login_required
def profile_export_view(request: HttpRequest, tenant_id: int) -> StreamingHttpResponse:
    """The searched profiles of one database as CSV."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    browser = _browse(request, tenant)
    names = browser.database.field_names if browser.database else []
    profiles = browser.page.paginator.object_list if browser.page else RemoteProfile.objects.none()
    rows = (
        [
            profile.copernica_id,
            *[profile.fields.get(name, "") for name in names],
            ";".join(profile.interests or []),
            profile.modified.isoformat() if profile.modified else "",
        ]
        for profile in profiles.iterator(chunk_size=1000)  # type: ignore[attr-defined]
    )
    return csv_response(
        filename="profiles.csv", header=["id", *names, "interests", "modified"], rows=rows
    )


@require_http_methods(["GET", "POST"])
@login_required
def profile_detail_view(request: HttpRequest, tenant_id: int, profile_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    profile = profile_get(tenant=tenant, copernica_id=profile_id)
    can_edit = can_edit_profiles(user=request.user, tenant=tenant)
    version = profile_version(profile=profile)
    form = ProfileForm(
        request.POST or None, database=profile.database, profile=profile, version=version
    )
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Your role does not allow editing profiles.")
        if form.is_valid():
            try:
                profile_change_submit(
                    user=request.user,
                    tenant=tenant,
                    kind="update",
                    profile=profile,
                    fields=form.changed_fields(),
                    interests=form.interest_changes(),
                    base_modified=form.base_version() or version,
                )
            except LinkerError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request, "Change queued for Copernica. Its state shows below as it goes."
                )
                return see_other(_profile_url(tenant, profile.copernica_id))
    return render(
        request,
        "profiles/detail.html",
        {
            "tenant": tenant,
            "profile": profile,
            "form": form,
            "can_edit": can_edit,
            "subprofiles": profile_subprofiles(profile=profile),
            "changes": profile_change_list(tenant=tenant, copernica_id=profile.copernica_id),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def profile_create_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = profile_link_get(tenant=tenant)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow creating profiles.")
    databases = database_list(link=link)
    wanted = request.POST.get("db") or request.GET.get("db")
    database = next((d for d in databases if str(d.copernica_id) == str(wanted)), None)
    if wanted and database is None:
        raise Http404("No such database.")  # another account's database, or a typo
    database = database or (databases[0] if databases else None)
    if database is None:
        messages.info(request, "Sync the account first: there is no database to add profiles to.")
        return see_other(reverse("tenant_detail", kwargs={"tenant_id": tenant.pk}))
    form = ProfileForm(request.POST or None, database=database)
    if request.method == "POST" and form.is_valid():
        values = form.filled_values()
        if not values:
            form.add_error(None, "Fill in at least one field.")
        else:
            try:
                change = profile_change_submit(
                    user=request.user,
                    tenant=tenant,
                    kind="create",
                    database=database,
                    fields=values,
                    interests=form.interests_chosen() or None,
                )
            except LinkerError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request,
                    f"New profile queued for Copernica (change #{change.pk}). It appears in the "
                    "list once Copernica has made it.",
                )
                return see_other(reverse("profile_list", kwargs={"tenant_id": tenant.pk}))
    return render(
        request,
        "profiles/create.html",
        {"tenant": tenant, "form": form, "database": database, "databases": databases},
    )


@require_POST
@login_required
def profile_delete_view(request: HttpRequest, tenant_id: int, profile_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    profile = profile_get(tenant=tenant, copernica_id=profile_id)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow deleting profiles.")
    try:
        profile_change_submit(user=request.user, tenant=tenant, kind="delete", profile=profile)
    except LinkerError as exc:
        messages.error(request, exc.message)
        return see_other(_profile_url(tenant, profile.copernica_id))
    messages.success(request, f"Deletion of profile {profile.copernica_id} queued for Copernica.")
    return see_other(reverse("profile_list", kwargs={"tenant_id": tenant.pk}))


@require_GET
@login_required
@never_cache
def profile_change_states_view(request: HttpRequest, tenant_id: int) -> JsonResponse:
    """The states of the given changes of this tenant, polled by static/js/app.js."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    ids = [int(v) for v in request.GET.get("ids", "").split(",") if v.strip().isdigit()]
    return JsonResponse({"changes": profile_change_states(tenant=tenant, ids=ids)})


@require_POST
@login_required
def profile_change_resolve_view(
    request: HttpRequest, tenant_id: int, change_id: int
) -> HttpResponse:
    """*Send anyway* or *Discard* a change in conflict, then back to the page it was shown on."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    change = profile_change_get(tenant=tenant, change_id=change_id)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow deciding about changes.")
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Send anyway or Discard.")
    else:
        try:
            profile_change_resolve(
                user=request.user, tenant=tenant, change=change, action=form.cleaned_data["action"]
            )
        except LinkerError as exc:
            messages.error(request, exc.message)
        else:
            if form.cleaned_data["action"] == "send":
                messages.success(request, f"Change #{change.pk} queued again, to be sent as it is.")
            else:
                messages.success(
                    request, f"Change #{change.pk} discarded; Copernica's values kept."
                )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = (
            _profile_url(tenant, change.copernica_profile_id)
            if change.copernica_profile_id
            else reverse("profile_list", kwargs={"tenant_id": tenant.pk})
        )
    return see_other(back)
