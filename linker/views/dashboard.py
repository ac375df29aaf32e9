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
from linker.health.selectors import (
    FILTERS,
    SORTS,
    Status,
    dashboard_get,
    dashboard_rows,
    status_of,
)
from linker.linking.invitations import (
    TenantAlreadyLinkedError,
    connect_link_send,
    tenant_create_and_invite,
)
from linker.models import NEVER_SYNCED, Notification
from linker.notifications.services import notification_list
from linker.platform.errors import LinkerError
from linker.sync.controls import sync_now_bulk
from linker.sync.run_report import sync_runs_last_failed
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

#: Rows fetched per round trip by the CSV export.
EXPORT_BATCH = 1000
#: A page cursor carries a tenant's name (at most 200 characters, 800 bytes of UTF-8, a third
#: more in base64) and a few numbers.
CURSOR_MAX = 1200

#: The parameters that place a page, which a list of every page ignores.
_PLACE = ("page", "after", "before")


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _dashboard_params(params: QueryDict) -> dict[str, Any]:
    """The dashboard's search, filter, sort and page as ``dashboard_get`` takes them."""
    return {
        "query": search_param(params),
        "filter": choice_param(params, "filter", choices=FILTERS, default=""),
        "sort": choice_param(params, "sort", choices=SORTS, default="name"),
        "page": page_param(params),
        # Keyset cursors (linker.health.keyset): read forgivingly there, so only bounded here.
        "after": text_param(params, "after", max_length=CURSOR_MAX),
        "before": text_param(params, "before", max_length=CURSOR_MAX),
    }


def _dashboard_query(values: dict[str, Any]) -> QueryDict:
    """The parsed parameters again, as the page's links and the bulk form's way back carry them."""
    return query_dict(
        q=values["query"],
        filter=values["filter"],
        sort=values["sort"] if values["sort"] != "name" else None,
        page=values["page"] if values["page"] != 1 else None,
        after=values["after"],
        before=values["before"],
    )


@require_GET
@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    values = _dashboard_params(request.GET)
    dashboard = dashboard_get(user=request.user, **values)
    agencies = list(agency_list(user=request.user))
    notifications = list(notification_list(user=request.user))
    # A failing sync's notice leads to the run that failed (one query for all of them).
    failed = sync_runs_last_failed(
        link_ids=[n.link_id for n in notifications if n.kind == Notification.Kind.SYNC_FAILING]
    )
    for notice in notifications:
        notice.failed_run_id = failed.get(notice.link_id)  # type: ignore[attr-defined]
    return render(
        request,
        "dashboard/index.html",
        {
            "dashboard": dashboard,
            # The links to other filters, sorts and pages start from the first page; the bulk
            # form comes back to this one.
            "query": _dashboard_query({**values, "page": 1, "after": "", "before": ""}),
            "back": _dashboard_query(values),
            "labels": Status.LABELS,
            "agencies": agencies,
            # Bulk actions are agency work: offered only on the tenants of the user's agencies.
            "managed_agency_ids": {agency.pk for agency in agencies},
            "notifications": notifications,
        },
    )


@require_GET
@login_required
def dashboard_export_view(request: HttpRequest) -> StreamingHttpResponse:
    """Every tenant the user may see (as searched and filtered) as CSV."""
    values = _dashboard_params(request.GET)
    for key in _PLACE:  # every page
        values.pop(key)
    # Streamed in batches from a server-side cursor: the whole list is never held in memory,
    # and plain tuples rather than model instances keep each row cheap. The kept rows, as the
    # pages read them: no per-tenant join to runs, schedules or ledgers.
    tenants = dashboard_rows(user=request.user, **values).values_list(  # type: ignore[misc]
        "name",
        "status_rank",
        "account_name",
        "profiles_mirrored",
        "tenant__link__copernica_count",
        "last_sync_key",
        "requests_today",
    )
    # The user's zone looked up once: timezone.localtime per row was a tenth of the export.
    zone = timezone.get_current_timezone()
    rows = (
        [
            name,
            Status.LABELS.get(status_of(rank), ""),
            account,
            profiles,
            copernica if copernica is not None else "",
            last_sync.astimezone(zone).isoformat() if last_sync != NEVER_SYNCED else "",
            requests,
        ]
        for name, rank, account, profiles, copernica, last_sync, requests in tenants.iterator(
            chunk_size=EXPORT_BATCH
        )
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


#: "All N matching this filter" acts on at most this many tenants in one request.
BULK_ALL_MAX = 2000
#: A message names the tenants up to this many, and counts them beyond.
NAMES_SHOWN = 20
BULK_ACTIONS = {"sync": "Sync now", "connect_link": "Send connect link"}


def _names(names: list[str]) -> str:
    if len(names) <= NAMES_SHOWN:
        return ", ".join(names)
    return f"{len(names):,} tenants"


@require_POST
@login_required
def tenant_bulk_view(request: HttpRequest) -> HttpResponse:
    # The dashboard's own query string, rebuilt from what it means: nothing else (another
    # site, a header break) can ride along into the redirect.
    back_values = _dashboard_params(QueryDict(text_param(request.POST, "back", max_length=2000)))
    back = _dashboard_query(back_values)
    back_url = reverse("home") + (f"?{back.urlencode()}" if back else "")
    if choice_param(request.POST, "scope", choices=("all",), default="") == "all":
        return _bulk_all(request, back_values=back_values, back_url=back_url)
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
    _bulk_apply(request, action=form.cleaned_data["action"], tenants=tenants)
    return see_other(back_url)


def _bulk_all(request: HttpRequest, *, back_values: dict[str, Any], back_url: str) -> HttpResponse:
    """An action on every tenant the user manages that matches the dashboard's search and
    filter (every page), after a confirmation that names how many: the count is sent back with
    the confirmed form and must still be the count, else the user is asked again."""
    action = choice_param(request.POST, "action", choices=BULK_ACTIONS, default="")
    if not action:
        messages.error(request, "Choose an action for tenants you manage.")
        return see_other(back_url)
    values = {key: value for key, value in back_values.items() if key not in _PLACE}
    managed = set(agency_list(user=request.user).values_list("pk", flat=True))
    matching = dashboard_rows(user=request.user, **values)  # every page's tenants
    rows = matching.values_list("pk", "agency_id")
    ids = [pk for pk, agency_id in rows if agency_id in managed]
    if not ids:
        messages.warning(request, "No tenant you manage matches this filter.")
        return see_other(back_url)
    if len(ids) > BULK_ALL_MAX:
        messages.error(
            request,
            f"{len(ids):,} tenants match: narrow the search or filter to {BULK_ALL_MAX:,} at most.",
        )
        return see_other(back_url)
    count = str(len(ids))
    if choice_param(request.POST, "confirm", choices=(count,), default="") != count:
        filter_label = FILTERS.get(values["filter"], ("All", None))[0]
        return render(
            request,
            "dashboard/bulk_confirm.html",
            {
                "action": action,
                "action_label": BULK_ACTIONS[action],
                "count": len(ids),
                "filter_label": filter_label,
                "search": values["query"].strip()[:200],
                "back": _dashboard_query(back_values).urlencode(),
                "back_url": back_url,
                "changed": bool(text_param(request.POST, "confirm")),
            },
        )
    tenants = list(tenant_list(user=request.user).select_related("agency").filter(pk__in=ids))
    _bulk_apply(request, action=action, tenants=tenants)
    return see_other(back_url)


def _bulk_apply(request: HttpRequest, *, action: str, tenants: list[Any]) -> None:
    if action == "sync":
        outcome = sync_now_bulk(user=request.user, tenants=tenants)
        if outcome.started:
            messages.success(request, f"Sync started for {_names(outcome.started)}.")
        if outcome.busy:
            messages.info(request, f"Already syncing: {_names(outcome.busy)}.")
        if outcome.skipped:
            messages.warning(
                request,
                f"Not synced (not linked, or not yours to manage): {_names(outcome.skipped)}.",
            )
        return
    emailed, to_send, linked, refused = [], [], [], []
    for tenant in tenants:
        try:
            invitation = connect_link_send(
                user=request.user, tenant=tenant, base_url=_base_url(request)
            )
        except PermissionDenied:
            refused.append(tenant.name)
            continue
        except TenantAlreadyLinkedError:
            linked.append(tenant.name)
            continue
        if invitation.emailed_to:
            emailed.append(f"{tenant.name} ({', '.join(invitation.emailed_to)})")
        else:
            to_send.append(f"{tenant.name}: {invitation.connect_url}")
    if refused:
        messages.warning(
            request, f"Only agency staff send connect links; not sent for {_names(refused)}."
        )
    if emailed:
        shown = "; ".join(emailed) if len(emailed) <= NAMES_SHOWN else f"{len(emailed):,} tenants"
        messages.success(request, f"Connect link emailed for {shown}.")
    for line in to_send:
        messages.info(request, f"No partner admin to email — send this link yourself. {line}")
    if linked:
        count = f"{len(linked)} tenant{'s' if len(linked) != 1 else ''}"
        messages.info(
            request,
            f"Skipped {count} already linked (no connect link sent): {_names(linked)}.",
        )


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

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Whose password this is, and for what: the person checks the link is theirs before
        # choosing one (only on a valid link, so a guessed one names nobody).
        context = super().get_context_data(**kwargs)
        invitee = getattr(self, "user", None) if context.get("validlink") else None
        context["invitee"] = invitee
        context["invited_to"] = (
            [
                f"{m.tenant.name if m.tenant else m.agency.name if m.agency else ''} "
                f"({m.get_role_display().lower()})"
                for m in invitee.memberships.select_related("tenant", "agency")
            ]
            if invitee is not None
            else []
        )
        return context


invite_accept_view = throttle("invitation")(InviteAcceptView.as_view())
