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
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import SecurityEventKind, Tenant
from accounts.security_log import security_event_record
from accounts.selectors import can_edit_profiles, tenant_get
from linker.linking.links import MIRROR_READ_ONLY, link_get, link_mirror_read_only
from linker.models import LinkState, ProfileChange
from linker.platform.errors import LinkerError
from linker.profiles.change_selectors import (
    profile_change_get,
    profile_change_list,
    profile_change_states,
    profile_version,
)
from linker.profiles.changes import profile_change_submit
from linker.profiles.conflicts import profile_change_resolve
from linker.profiles.interventions import profile_change_cancel, profile_change_retry
from linker.profiles.selectors import (
    ProfileBrowser,
    database_list,
    profile_browse,
    profile_browse_rows,
    profile_get,
    profile_link_get,
    profile_subprofiles,
)
from linker.views.exports import csv_response
from linker.views.forms import ProfileForm, ResolveForm
from linker.views.params import (
    id_list_param,
    optional_id_param,
    page_param,
    query_dict,
    search_param,
    text_param,
)
from linker.views.responses import see_other


def _profile_url(tenant: Tenant, copernica_id: int) -> str:
    return reverse("profile_detail", kwargs={"tenant_id": tenant.pk, "profile_id": copernica_id})


def _queued_message(change: ProfileChange) -> str:
    if change.state == ProfileChange.State.WAITING:
        return (
            f"Change #{change.pk} is saved, but the Copernica link needs reconnecting: it will be "
            "sent after someone reconnects the link. Nothing is lost meanwhile."
        )
    return "Change queued for Copernica. Its state shows below as it goes."


def _back(request: HttpRequest, tenant: Tenant, change: ProfileChange) -> str:
    """The page the button was on (``next``, if it is ours), else the change's profile page."""
    back = text_param(request.POST, "next", max_length=2000)
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    if change.copernica_profile_id:
        return _profile_url(tenant, change.copernica_profile_id)
    return reverse("profile_list", kwargs={"tenant_id": tenant.pk})


def _browse(request: HttpRequest, tenant: Tenant, page: int = 1) -> ProfileBrowser:
    return profile_browse(
        tenant=tenant,
        database_id=optional_id_param(request.GET, "db"),
        query=search_param(request.GET),
        field=text_param(request.GET, "field"),
        sort=text_param(request.GET, "sort") or "id",
        page=page,
        after=text_param(request.GET, "after"),
        before=text_param(request.GET, "before"),
    )


def _browser_query(browser: ProfileBrowser) -> QueryDict:
    """The browser's parsed parameters, as its sort, page and export links carry them (the
    keyset cursors only go on the previous and next links)."""
    return query_dict(
        db=browser.database.copernica_id if browser.database else None,
        q=browser.query,
        field=browser.field,
        sort=browser.sort if browser.sort != "id" else None,
        page=browser.number if browser.number and browser.number != 1 else None,
    )


@require_GET
@login_required
def profile_list_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    browser = _browse(request, tenant, page_param(request.GET))
    read_only = link_mirror_read_only(link=link_get(tenant=tenant))
    return render(
        request,
        "profiles/list.html",
        {
            "tenant": tenant,
            "browser": browser,
            "query": _browser_query(browser),
            "read_only": read_only,
            "can_edit": can_edit_profiles(user=request.user, tenant=tenant) and not read_only,
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
    rows = (
        [
            profile.copernica_id,
            *[profile.fields.get(name, "") for name in names],
            ";".join(profile.interests or []),
            profile.modified.isoformat() if profile.modified else "",
        ]
        for profile in profile_browse_rows(browser=browser)
    )
    security_event_record(
        kind=SecurityEventKind.EXPORT,
        request=request,
        user=request.user,
        agencies=[tenant.agency] if tenant.agency else [],
        detail=f"profiles.csv of {tenant.name}"
        + (f", database {browser.database.name}" if browser.database else ""),
    )
    return csv_response(
        filename="profiles.csv", header=["id", *names, "interests", "modified"], rows=rows
    )


@require_http_methods(["GET", "POST"])
@login_required
def profile_detail_view(request: HttpRequest, tenant_id: int, profile_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    # The changes before the mirror's values: a change read as done has its mirror write (made
    # in the same transaction) in the values read after it. The other order could show Done
    # beside the values from before it, and a page with nothing pending never reloads.
    changes = profile_change_list(tenant=tenant, copernica_id=profile_id)
    profile = profile_get(tenant=tenant, copernica_id=profile_id)
    read_only = link_mirror_read_only(link=profile.link)
    can_edit = can_edit_profiles(user=request.user, tenant=tenant) and not read_only
    version = profile_version(profile=profile)
    form = ProfileForm(
        request.POST or None, database=profile.database, profile=profile, version=version
    )
    if request.method == "POST":
        if read_only:
            messages.error(request, MIRROR_READ_ONLY)
            return see_other(_profile_url(tenant, profile.copernica_id))
        if not can_edit:
            raise PermissionDenied("Your role does not allow editing profiles.")
        if form.is_valid():
            try:
                change = profile_change_submit(
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
                messages.success(request, _queued_message(change))
                return see_other(_profile_url(tenant, profile.copernica_id))
    return render(
        request,
        "profiles/detail.html",
        {
            "tenant": tenant,
            "profile": profile,
            "form": form,
            "can_edit": can_edit,
            "read_only": read_only,
            "waits_for_reconnect": profile.link.state == LinkState.NEEDS_RECONNECT,
            "subprofiles": profile_subprofiles(profile=profile),
            "changes": changes,
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def profile_create_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = profile_link_get(tenant=tenant)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow creating profiles.")
    if link_mirror_read_only(link=link):
        messages.error(request, MIRROR_READ_ONLY)
        return see_other(reverse("profile_list", kwargs={"tenant_id": tenant.pk}))
    databases = database_list(link=link)
    wanted = optional_id_param(request.POST, "db") or optional_id_param(request.GET, "db")
    database = next((d for d in databases if d.copernica_id == wanted), None)
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
                    "list once Copernica has made it."
                    if change.state != ProfileChange.State.WAITING
                    else _queued_message(change),
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
    if link_mirror_read_only(link=profile.link):
        messages.error(request, MIRROR_READ_ONLY)
        return see_other(_profile_url(tenant, profile.copernica_id))
    try:
        change = profile_change_submit(
            user=request.user, tenant=tenant, kind="delete", profile=profile
        )
    except LinkerError as exc:
        messages.error(request, exc.message)
        return see_other(_profile_url(tenant, profile.copernica_id))
    messages.success(
        request,
        f"Deletion of profile {profile.copernica_id} queued for Copernica."
        if change.state != ProfileChange.State.WAITING
        else _queued_message(change),
    )
    return see_other(reverse("profile_list", kwargs={"tenant_id": tenant.pk}))


@require_GET
@login_required
@never_cache
def profile_change_states_view(request: HttpRequest, tenant_id: int) -> JsonResponse:
    """The states of the given changes of this tenant, polled by static/js/app.js."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    ids = id_list_param(request.GET, "ids")
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
    return see_other(_back(request, tenant, change))


@require_POST
@login_required
def profile_change_retry_view(request: HttpRequest, tenant_id: int, change_id: int) -> HttpResponse:
    """*Retry* a failed or cancelled change, then back to the page it was shown on."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    change = profile_change_get(tenant=tenant, change_id=change_id)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow retrying changes.")
    try:
        retried = profile_change_retry(user=request.user, tenant=tenant, change=change)
    except LinkerError as exc:
        messages.error(request, exc.message)
    else:
        if retried.state == ProfileChange.State.WAITING:
            messages.success(request, _queued_message(retried))
        else:
            messages.success(request, f"Change #{change.pk} queued again for Copernica.")
    return see_other(_back(request, tenant, change))


@require_POST
@login_required
def profile_change_cancel_view(
    request: HttpRequest, tenant_id: int, change_id: int
) -> HttpResponse:
    """*Cancel* a waiting or queued change, then back to the page it was shown on."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    change = profile_change_get(tenant=tenant, change_id=change_id)
    if not can_edit_profiles(user=request.user, tenant=tenant):
        raise PermissionDenied("Your role does not allow cancelling changes.")
    try:
        profile_change_cancel(user=request.user, tenant=tenant, change=change)
    except LinkerError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Change #{change.pk} cancelled; nothing was sent.")
    return see_other(_back(request, tenant, change))
