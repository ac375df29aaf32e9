"""The subprofile pages of a profile: create, edit and delete, through the outbox.

Every lookup starts at ``tenant_get`` and goes through the profile (itself of the tenant's
link), so another tenant's subprofile or collection id is the same 404 as a missing one.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Tenant
from accounts.selectors import can_edit_profiles, tenant_get
from linker.linking.links import MIRROR_READ_ONLY, link_mirror_read_only
from linker.models import RemoteSubprofile
from linker.platform.errors import LinkerError
from linker.profiles.change_selectors import profile_change_list, subprofile_version
from linker.profiles.changes import subprofile_change_submit
from linker.profiles.selectors import collection_get, profile_get, subprofile_get
from linker.views.forms import SubprofileForm
from linker.views.responses import see_other


def _profile_url(tenant: Tenant, profile_id: int) -> str:
    return reverse("profile_detail", kwargs={"tenant_id": tenant.pk, "profile_id": profile_id})


def _subprofile_url(tenant: Tenant, subprofile: RemoteSubprofile) -> str:
    return reverse(
        "subprofile_detail",
        kwargs={
            "tenant_id": tenant.pk,
            "profile_id": subprofile.profile_copernica_id,
            "subprofile_id": subprofile.copernica_id,
        },
    )


def _in_field_order(subprofile: RemoteSubprofile) -> list[tuple[str, object]]:
    """The subprofile's values in its collection's field order (then any others)."""
    values = dict(subprofile.fields or {})
    names = [name for name in subprofile.collection.field_names if name in values]
    return [(name, values[name]) for name in names] + [
        (name, value) for name, value in values.items() if name not in names
    ]


@require_http_methods(["GET", "POST"])
@login_required
def subprofile_create_view(
    request: HttpRequest, tenant_id: int, profile_id: int, collection_id: int
) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    profile = profile_get(tenant=tenant, copernica_id=profile_id)
    collection = collection_get(tenant=tenant, profile=profile, copernica_id=collection_id)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow creating subprofiles.")
    if link_mirror_read_only(link=profile.link):
        messages.error(request, MIRROR_READ_ONLY)
        return see_other(_profile_url(tenant, profile.copernica_id))
    form = SubprofileForm(request.POST or None, collection=collection)
    if request.method == "POST" and form.is_valid():
        values = form.filled_values()
        if not values:
            form.add_error(None, "Fill in at least one field.")
        else:
            try:
                change = subprofile_change_submit(
                    user=request.user,
                    tenant=tenant,
                    kind="create",
                    collection=collection,
                    profile=profile,
                    fields=values,
                )
            except LinkerError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request,
                    f"New subprofile in {collection.name} queued for Copernica (change "
                    f"#{change.pk}). It appears here once Copernica has made it.",
                )
                return see_other(_profile_url(tenant, profile.copernica_id))
    return render(
        request,
        "profiles/subprofile_create.html",
        {"tenant": tenant, "profile": profile, "collection": collection, "form": form},
    )


@require_http_methods(["GET", "POST"])
@login_required
def subprofile_detail_view(
    request: HttpRequest, tenant_id: int, profile_id: int, subprofile_id: int
) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    profile = profile_get(tenant=tenant, copernica_id=profile_id)
    subprofile = subprofile_get(tenant=tenant, profile=profile, copernica_id=subprofile_id)
    # The changes before the mirror's values: a change read as done has its mirror write (made
    # in the same transaction) in the values read after it. The other order could show Done
    # beside the values from before it, and a page with nothing pending never reloads.
    changes = profile_change_list(tenant=tenant, subprofile=subprofile)
    subprofile.refresh_from_db(fields=["fields", "modified", "removed_at"])
    read_only = link_mirror_read_only(link=profile.link)
    can_edit = can_edit_profiles(user=request.user, tenant=tenant) and not read_only
    version = subprofile_version(subprofile=subprofile)
    form = SubprofileForm(
        request.POST or None,
        collection=subprofile.collection,
        values=subprofile.fields or {},
        version=version,
    )
    if request.method == "POST":
        if read_only:
            messages.error(request, MIRROR_READ_ONLY)
            return see_other(_subprofile_url(tenant, subprofile))
        if not can_edit:
            raise PermissionDenied("Your role does not allow editing subprofiles.")
        if form.is_valid():
            try:
                subprofile_change_submit(
                    user=request.user,
                    tenant=tenant,
                    kind="update",
                    subprofile=subprofile,
                    fields=form.changed_fields(),
                    base_modified=form.base_version() or version,
                )
            except LinkerError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request, "Change queued for Copernica. Its state shows below as it goes."
                )
                return see_other(_subprofile_url(tenant, subprofile))
    return render(
        request,
        "profiles/subprofile.html",
        {
            "tenant": tenant,
            "profile": profile,
            "subprofile": subprofile,
            "facts": _in_field_order(subprofile),
            "form": form,
            "can_edit": can_edit,
            "read_only": read_only,
            "changes": changes,
        },
    )


@require_POST
@login_required
def subprofile_delete_view(
    request: HttpRequest, tenant_id: int, profile_id: int, subprofile_id: int
) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    profile = profile_get(tenant=tenant, copernica_id=profile_id)
    subprofile = subprofile_get(tenant=tenant, profile=profile, copernica_id=subprofile_id)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow deleting subprofiles.")
    if link_mirror_read_only(link=profile.link):
        messages.error(request, MIRROR_READ_ONLY)
        return see_other(_subprofile_url(tenant, subprofile))
    try:
        subprofile_change_submit(
            user=request.user, tenant=tenant, kind="delete", subprofile=subprofile
        )
    except LinkerError as exc:
        messages.error(request, exc.message)
        return see_other(_subprofile_url(tenant, subprofile))
    messages.success(
        request, f"Deletion of subprofile {subprofile.copernica_id} queued for Copernica."
    )
    return see_other(_profile_url(tenant, profile.copernica_id))
