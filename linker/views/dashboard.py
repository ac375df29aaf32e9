"""The agency dashboard (``/``), its bulk actions and export, and creating a tenant."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import SecurityEventKind
from accounts.security_log import security_event_record
from accounts.selectors import agency_get, agency_list, tenant_list
from accounts.throttling import throttle
from linker.health.selectors import FILTERS, SORTS, Status, dashboard_get
from linker.linking.invitations import (
    TenantAlreadyLinkedError,
    connect_link_send,
    tenant_create_and_invite,
)
from linker.notifications.services import notification_list
from linker.platform.errors import LinkerError
from linker.sync.controls import sync_now_bulk
from linker.views.exports import csv_response
from linker.views.forms import BulkForm, TenantCreateForm
from linker.views.params import (
    choice_param,
    id_list_param,
    page_param,
    query_dict,
    search_param,
    text_param,
)
from linker.views.responses import see_other


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _dashboard_params(params: QueryDict) -> dict[str, Any]:
    """The dashboard's search, filter, sort and page as ``dashboard_get`` takes them."""
    return {
        "query": search_param(params),
        "filter": choice_param(params, "filter", choices=FILTERS, default=""),
        "sort": choice_param(params, "sort", choices=SORTS, default="name"),
        "page": page_param(params),
    }


def _dashboard_query(values: dict[str, Any]) -> QueryDict:
    """The parsed parameters again, as the page's links and the bulk form's way back carry them."""
    return query_dict(
        q=values["query"],
        filter=values["filter"],
        sort=values["sort"] if values["sort"] != "name" else None,
        page=values["page"] if values["page"] != 1 else None,
    )


@require_GET
@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    values = _dashboard_params(request.GET)
    dashboard = dashboard_get(user=request.user, **values)
    return render(
        request,
        "dashboard/index.html",
        {
            "dashboard": dashboard,
            "query": _dashboard_query(values),
            "labels": Status.LABELS,
            "sorts": SORTS,
            "agencies": list(agency_list(user=request.user)),
            "notifications": list(notification_list(user=request.user)),
        },
    )


@require_GET
@login_required
def dashboard_export_view(request: HttpRequest) -> StreamingHttpResponse:
    """Every tenant the user may see (as searched and filtered) as CSV."""
    values = _dashboard_params(request.GET)
    values.pop("page")  # every page
    dashboard = dashboard_get(user=request.user, **values)
    tenants = dashboard.page.paginator.object_list
    rows = (
        [
            tenant.name,
            Status.LABELS.get(tenant.status, tenant.status),
            tenant.link.copernica_account_name if getattr(tenant, "link", None) else "",
            tenant.profiles_mirrored,
            tenant.copernica_count if tenant.copernica_count is not None else "",
            timezone.localtime(tenant.last_success_at).isoformat()
            if tenant.last_success_at
            else "",
            tenant.requests_today,
        ]
        for tenant in tenants.iterator(chunk_size=500)  # type: ignore[attr-defined]
    )
    security_event_record(
        kind=SecurityEventKind.EXPORT, request=request, user=request.user, detail="tenants.csv"
    )
    return csv_response(
        filename="tenants.csv",
        header=[
            "tenant",
            "status",
            "copernica_account",
            "profiles_mirrored",
            "copernica_count",
            "last_success",
            "requests_today",
        ],
        rows=rows,
    )


@require_POST
@login_required
def tenant_bulk_view(request: HttpRequest) -> HttpResponse:
    # The dashboard's own query string, rebuilt from what it means: nothing else (another
    # site, a header break) can ride along into the redirect.
    back = _dashboard_query(
        _dashboard_params(QueryDict(text_param(request.POST, "back", max_length=2000)))
    )
    back_url = reverse("home") + (f"?{back.urlencode()}" if back else "")
    ids = id_list_param(request.POST, "tenants")
    # Only the user's own tenants are choices: a foreign id fails validation like a typo.
    own = list(tenant_list(user=request.user).filter(pk__in=ids).values_list("pk", flat=True))
    form = BulkForm(request.POST, tenant_ids=own)
    if not ids:
        messages.warning(request, "Tick one or more tenants first.")
        return see_other(back_url)
    if not form.is_valid():
        messages.error(request, "Choose an action for tenants you manage.")
        return see_other(back_url)
    tenants = list(
        tenant_list(user=request.user)
        .select_related("agency")
        .filter(pk__in=form.cleaned_data["tenants"])
    )
    if form.cleaned_data["action"] == "sync":
        outcome = sync_now_bulk(user=request.user, tenants=tenants)
        if outcome.started:
            messages.success(request, f"Sync started for {', '.join(outcome.started)}.")
        if outcome.busy:
            messages.info(request, f"Already syncing: {', '.join(outcome.busy)}.")
        if outcome.skipped:
            messages.warning(
                request,
                f"Not synced (not linked, or not yours to manage): {', '.join(outcome.skipped)}.",
            )
        return see_other(back_url)
    emailed, to_send, linked = [], [], []
    for tenant in tenants:
        try:
            invitation = connect_link_send(
                user=request.user, tenant=tenant, base_url=_base_url(request)
            )
        except PermissionDenied:
            messages.warning(request, f"{tenant.name}: only agency staff send connect links.")
            continue
        except TenantAlreadyLinkedError:
            linked.append(tenant.name)
            continue
        if invitation.emailed_to:
            emailed.append(f"{tenant.name} ({', '.join(invitation.emailed_to)})")
        else:
            to_send.append(f"{tenant.name}: {invitation.connect_url}")
    if emailed:
        messages.success(request, f"Connect link emailed for {'; '.join(emailed)}.")
    for line in to_send:
        messages.info(request, f"No partner admin to email — send this link yourself. {line}")
    if linked:
        count = f"{len(linked)} tenant{'s' if len(linked) != 1 else ''}"
        messages.info(
            request,
            f"Skipped {count} already linked (no connect link sent): {', '.join(linked)}.",
        )
    return see_other(back_url)


@require_http_methods(["GET", "POST"])
@login_required
def tenant_create_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    agency = agency_get(user=request.user, id=agency_id)
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = tenant_create_and_invite(
                user=request.user,
                agency=agency,
                name=form.cleaned_data["name"],
                admin_email=form.cleaned_data["admin_email"],
                base_url=_base_url(request),
            )
        except LinkerError as exc:
            form.add_error(None, exc.message)
        else:
            if invitation.emailed_to:
                messages.success(
                    request,
                    f"{invitation.tenant.name} created. We emailed {invitation.emailed_to[0]} a "
                    "connect link.",
                )
            else:
                messages.success(
                    request,
                    f"{invitation.tenant.name} created. Send the client this connect link: "
                    f"{invitation.connect_url}",
                )
            return see_other(reverse("tenant_detail", kwargs={"tenant_id": invitation.tenant.pk}))
    return render(request, "dashboard/tenant_create.html", {"agency": agency, "form": form})


class InviteAcceptView(auth_views.PasswordResetConfirmView):
    """The invited partner admin chooses a password (Django's reset-confirm flow)."""

    template_name = "registration/invite_accept.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form: Any) -> HttpResponse:
        messages.success(self.request, "Password set. Log in with your email and new password.")
        return super().form_valid(form)


invite_accept_view = throttle("invitation")(InviteAcceptView.as_view())
