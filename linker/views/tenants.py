"""The tenant page: the link card, syncing (history, live progress, chart, schedule), the
request ledger and the link history."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import can_edit_profiles, can_link_tenant, can_manage_tenant, tenant_get
from linker.linking.applications import consent_origin
from linker.linking.connect_links import connect_link_list
from linker.linking.links import link_duplicate_warning, link_get
from linker.models import LinkState
from linker.notifications.services import notification_list
from linker.platform.errors import LinkerError
from linker.sync.activity import (
    mirror_coverage,
    request_ledger_days,
    sync_charts,
    sync_progress,
    sync_run_active,
    sync_run_list,
)
from linker.sync.controls import sync_now
from linker.sync.schedule import sync_schedule_get, sync_schedule_set
from linker.views.exports import csv_response
from linker.views.forms import ApiTokenForm, ScheduleForm
from linker.views.params import choice_param, optional_id_param
from linker.views.responses import see_other, tenant_url


@require_GET
@login_required
def tenant_detail_view(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_get(user=request.user, id=tenant_id)
    link = link_get(tenant=tenant)
    can_manage = can_manage_tenant(user=request.user, tenant=tenant)
    schedule = sync_schedule_get(link=link) if link else None
    schedule_form = ScheduleForm(
        initial={
            "enabled": schedule.enabled if schedule else True,
            "incremental_minutes": schedule.incremental_minutes if schedule else 15,
            "full_hour": schedule.full_hour if schedule else 2,
        }
    )
    active_run = sync_run_active(link=link) if link else None
    response = render(
        request,
        "tenants/detail.html",
        {
            "tenant": tenant,
            "link": link,
            "duplicate_warning": link_duplicate_warning(link=link, user=request.user)
            if link and link.state == LinkState.PENDING
            else "",
            "events": link.events.select_related("actor")[:50] if link else [],
            "can_link": can_link_tenant(user=request.user, tenant=tenant),
            "can_manage": can_manage,
            "can_edit": can_edit_profiles(user=request.user, tenant=tenant),
            "connect_links": connect_link_list(tenant=tenant)[:10] if can_manage else [],
            "token_form": ApiTokenForm(),
            "now": timezone.now(),
            "runs": list(sync_run_list(link=link)) if link else [],
            "active_run": active_run,
            "progress": sync_progress(link=link) if active_run and link else None,
            "charts": sync_charts(link=link) if link else {},
            "coverage": mirror_coverage(link=link) if link else [],
            "ledger": request_ledger_days(link=link) if link else [],
            "schedule": schedule,
            "schedule_form": schedule_form,
            "notifications": [
                n for n in notification_list(user=request.user) if n.tenant_id == tenant.pk
            ],
        },
    )
    response.csp_form_action = consent_origin(agency=tenant.agency)  # type: ignore[attr-defined]
    return response


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
    return see_other(tenant_url(tenant.pk) + "#sync")


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
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[k].label}: {' '.join(str(m) for m in v)}" for k, v in form.errors.items()
        )
        messages.error(request, f"Schedule not saved. {problems}")
        return see_other(tenant_url(tenant.pk) + "#schedule")
    try:
        schedule = sync_schedule_set(user=request.user, tenant=tenant, **form.cleaned_data)
    except LinkerError as exc:
        messages.error(request, f"Schedule not saved. {exc.message}")
    else:
        if schedule.enabled:
            messages.success(
                request,
                f"Schedule saved: changed profiles every {schedule.incremental_minutes} minutes, "
                f"a full sync daily at {schedule.full_hour}:00.",
            )
        else:
            messages.success(
                request, "Scheduled syncs are off for this tenant. Sync now still works."
            )
    return see_other(tenant_url(tenant.pk) + "#schedule")


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
