"""The tenant page and what hangs off it: the state and the next action on top, then one tab
at a time (``?tab=``: overview, syncs, requests, history; plain links, no JavaScript needed),
the sync run page, sync now, progress, the schedule and the ledger CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

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
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Tenant
from accounts.selectors import can_link_tenant, can_manage_tenant, tenant_get
from linker.linking.applications import consent_origin
from linker.linking.connect_links import connect_link_list
from linker.linking.links import link_duplicate_warning, link_get
from linker.linking.request_log import KEEP, METHODS, STATUS_CLASSES, request_log_list
from linker.models import Link, LinkState, SyncRun, SyncState
from linker.notifications.services import notification_list
from linker.platform.errors import LinkerError
from linker.sync.activity import (
    LedgerDay,
    mirror_coverage,
    request_ledger_days,
    sync_progress,
    sync_run_active,
    sync_run_list,
)
from linker.sync.charts import sync_chart_list
from linker.sync.controls import sync_now
from linker.sync.run_report import sync_run_get, sync_run_report, sync_runs_last_failed
from linker.sync.schedule import sync_schedule_get, sync_schedule_set
from linker.views.exports import csv_response
from linker.views.forms import ApiTokenForm, ScheduleForm
from linker.views.linking import NEW_CONNECT_LINK
from linker.views.params import choice_param, optional_id_param
from linker.views.responses import see_other, tenant_url

TABS = ("overview", "syncs", "requests", "history")
#: Runs listed on the Syncs tab (the charts show the last ``CHART_RUNS``, each bar a link).
HISTORY_RUNS = 15


@dataclass(frozen=True)
class LedgerRow:
    """A day with requests, or a run of days without any, folded into one row."""

    first: date
    last: date
    day: LedgerDay | None  # None: no requests from ``last`` to ``first``

    @property
    def days(self) -> int:
        return (self.first - self.last).days + 1


def ledger_rows(days: list[LedgerDay]) -> list[LedgerRow]:
    """``days`` (newest first) with each run of empty days as one row."""
    rows: list[LedgerRow] = []
    for day in days:
        empty = not (day.requests or day.errors or day.rate_limited)
        if empty and rows and rows[-1].day is None:
            rows[-1] = LedgerRow(first=rows[-1].first, last=day.day, day=None)
        elif empty:
            rows.append(LedgerRow(first=day.day, last=day.day, day=None))
        else:
            rows.append(LedgerRow(first=day.day, last=day.day, day=day))
    return rows


@dataclass(frozen=True)
class NextStep:
    """What the top of the page says about the tenant, and the one thing to do next."""

    tone: str  # "ok", "warn", "bad", "idle": the colour
    headline: str
    detail: str = ""
    action: str = ""  # a key the template turns into the right button, "" for none


def _next_step(
    *,
    link: Link | None,
    last_run: SyncRun | None,
    active_run: SyncRun | None,
    can_link: bool,
    can_manage: bool,
    schedule_on: bool,
) -> NextStep:
    ask = "Ask an admin of your agency to do it."
    if link is None or link.state == LinkState.DISCONNECTED or not link.copernica_account_id:
        if link is not None and link.state == LinkState.DISCONNECTED:
            headline, unlinked = (
                "Disconnected from Copernica",
                "Nothing syncs until someone connects a Copernica account again.",
            )
        else:
            headline = "Not linked to Copernica"
            unlinked = "This tenant is not linked to a Copernica account yet."
        if can_link:
            return NextStep("idle", headline, unlinked, "connect")
        if can_manage:
            return NextStep("idle", headline, unlinked, "connect_link")
        return NextStep("idle", headline, f"{unlinked} {ask}")
    if link.state == LinkState.PENDING:
        return NextStep(
            "warn",
            "Waiting for confirmation",
            "This Copernica account is linked to another tenant too; nothing syncs until "
            "someone confirms it." + ("" if can_link else f" {ask}"),
            "confirm" if can_link else "",
        )
    if link.state == LinkState.NEEDS_RECONNECT:
        return NextStep(
            "bad",
            "Needs reconnecting",
            "Copernica no longer accepts the stored token: nothing syncs and changes wait "
            "until someone reconnects." + ("" if can_link else f" {ask}"),
            "reconnect" if can_link else "",
        )
    if active_run is not None:
        return NextStep("ok", f"{active_run.get_mode_display()} sync running", "", "")
    if last_run is None:
        if can_manage:
            return NextStep(
                "idle", "Never synced", "The first sync copies every profile.", "sync_first"
            )
        detail = (
            "The first sync starts on schedule."
            if schedule_on
            else "Scheduled syncs are off; agency staff start syncs."
        )
        return NextStep("idle", "Never synced", detail)
    if last_run.state == SyncState.FAILED:
        return NextStep(
            "bad",
            "The last sync failed",
            last_run.error_message,
            "sync_again" if can_manage else "",
        )
    detail = "The next one comes on schedule." if schedule_on else "Scheduled syncs are off."
    return NextStep("ok", "Linked and syncing", detail, "")


def _tenant_page(
    request: HttpRequest,
    tenant: Tenant,
    *,
    tab: str,
    schedule_form: ScheduleForm | None = None,
) -> HttpResponse:
    """The page: every tab shares the top (state, next action, progress, notices); each tab
    reads only its own rows, so a page costs the same few queries however long the history."""
    user = request.user
    # The request log's filters, from the page's own query string (parsed on every tab, so a
    # bad value is refused or ignored the same way wherever it is sent).
    query = request.GET if request.method == "GET" else QueryDict()
    status_class = choice_param(query, "status", choices=STATUS_CLASSES, default="")
    method = choice_param(query, "method", choices=METHODS, default="")
    link = link_get(tenant=tenant)
    linked = bool(link and link.copernica_account_id and link.state != LinkState.DISCONNECTED)
    can_link = can_link_tenant(user=user, tenant=tenant)
    can_manage = can_manage_tenant(user=user, tenant=tenant)
    schedule = sync_schedule_get(link=link) if link else None
    active_run = sync_run_active(link=link) if link else None
    recent_runs = list(sync_run_list(link=link, limit=5)) if link else []
    last_run = recent_runs[0] if recent_runs else None
    notices = [n for n in notification_list(user=user) if n.tenant_id == tenant.pk]
    failed_run = (
        sync_runs_last_failed(link_ids=[link.pk]).get(link.pk) if link and notices else None
    )
    context: dict[str, Any] = {
        "tenant": tenant,
        "link": link,
        "linked": linked,
        "tab": tab,
        "can_link": can_link,
        "can_manage": can_manage,
        "now": timezone.now(),
        "schedule": schedule,
        "active_run": active_run,
        "last_run": last_run,
        "recent_runs": recent_runs,
        "duplicate_warning": link_duplicate_warning(link=link, user=user)
        if link and link.state == LinkState.PENDING
        else "",
        "token_form": ApiTokenForm(),
        "progress": sync_progress(link=link) if active_run and link else None,
        "notifications": notices,
        "failed_run_id": failed_run,
        "next_step": _next_step(
            link=link,
            last_run=last_run,
            active_run=active_run,
            can_link=can_link,
            can_manage=can_manage,
            schedule_on=bool(schedule is None or schedule.enabled),
        ),
    }
    if tab == "overview":
        new_link = request.session.pop(NEW_CONNECT_LINK, None)
        context.update(
            connect_links=connect_link_list(tenant=tenant)[:10] if can_manage else [],
            new_connect_link=new_link
            if isinstance(new_link, dict) and new_link.get("tenant") == tenant.pk
            else None,
        )
    elif tab == "syncs" and link is not None:
        if schedule_form is None:
            schedule_form = ScheduleForm(
                initial={
                    "enabled": schedule.enabled if schedule else True,
                    "incremental_minutes": schedule.incremental_minutes if schedule else 15,
                    "full_hour": schedule.full_hour if schedule else 2,
                }
            )
        context.update(
            runs=list(sync_run_list(link=link, limit=HISTORY_RUNS)),
            charts=sync_chart_list(link=link),
            coverage=mirror_coverage(link=link),
            schedule_form=schedule_form,
        )
    elif tab == "requests" and link is not None:
        ledger = request_ledger_days(link=link)
        context.update(
            ledger=ledger_rows(ledger),
            ledger_days=len(ledger),
            request_log=request_log_list(link=link, status_class=status_class, method=method),
            status_filter=status_class,
            method_filter=method,
            status_classes=STATUS_CLASSES,
            methods=METHODS,
            log_days=KEEP.days,
        )
    elif tab == "history":
        context["events"] = link.events.select_related("actor")[:50] if link else []
    response = render(request, "tenants/detail.html", context)
    response.csp_form_action = consent_origin(agency=tenant.agency)  # type: ignore[attr-defined]
    return response


@require_GET
@login_required
def tenant_detail_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    tab = choice_param(request.GET, "tab", choices=TABS, default="overview")
    return _tenant_page(request, tenant, tab=tab)


@require_GET
@login_required
def sync_run_detail_view(request: HttpRequest, tenant_id: int, run_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get(tenant=tenant)
    run = sync_run_get(link=link, id=run_id) if link else None
    if run is None:
        raise Http404("No such sync run.")
    return render(
        request,
        "tenants/run.html",
        {"tenant": tenant, "link": link, "report": sync_run_report(run=run)},
    )


@require_POST
@login_required
def sync_now_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    try:
        run, created = sync_now(
            user=request.user,
            tenant=tenant,
            full=choice_param(request.POST, "mode", choices=("full",), default="") == "full",
        )
    except LinkerError as exc:
        messages.error(request, exc.message)
    else:
        if created and run.is_active:
            messages.success(request, f"{run.get_mode_display()} sync started.")
        elif run.is_active:
            messages.info(request, "A sync is already running; follow it below.")
        else:
            messages.error(request, run.error_message or "The sync could not start.")
    return see_other(tenant_url(tenant.pk))


@require_GET
@login_required
@never_cache
def sync_progress_view(request: HttpRequest, tenant_id: int) -> JsonResponse:
    """The running sync's progress, polled by static/js/app.js."""
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get(tenant=tenant)
    if link is None:
        raise Http404("Not linked.")
    return JsonResponse(sync_progress(link=link, run_id=optional_id_param(request.GET, "run")))


@require_POST
@login_required
def sync_schedule_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    if not can_manage_tenant(user=request.user, tenant=tenant):
        raise PermissionDenied("Only agency staff can change the sync schedule.")
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            schedule = sync_schedule_set(user=request.user, tenant=tenant, **form.cleaned_data)
        except LinkerError as exc:
            form.add_error(None, exc.message)
        else:
            if schedule.enabled:
                messages.success(
                    request,
                    f"Schedule saved: changed profiles every {schedule.incremental_minutes} "
                    f"minutes, a full sync daily at {schedule.full_hour}:00.",
                )
            else:
                messages.success(
                    request, "Scheduled syncs are off for this tenant. Sync now still works."
                )
            return see_other(tenant_url(tenant.pk) + "?tab=syncs#schedule")
    # The errors next to their fields, with what was typed still in them.
    response = _tenant_page(request, tenant, tab="syncs", schedule_form=form)
    response.status_code = 400
    return response


@require_GET
@login_required
def request_ledger_export_view(request: HttpRequest, tenant_id: int) -> StreamingHttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get(tenant=tenant)
    if link is None:
        raise Http404("Not linked.")
    rows = (
        [day.day.isoformat(), day.requests, day.errors, day.rate_limited]
        for day in request_ledger_days(link=link, days=90)
    )
    return csv_response(
        filename="requests.csv", header=["day", "requests", "errors", "rate_limited"], rows=rows
    )
