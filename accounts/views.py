"""The user's own settings page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import AccountSettingsForm, SecurityLogFilterForm
from accounts.models import SecurityEventKind, User
from accounts.security_log import security_event_list, security_event_record, user_agent_summary
from accounts.selectors import administered_agency_get, administered_agency_list
from accounts.services import user_sessions_end
from accounts.two_factor import two_factor_status


@require_http_methods(["GET", "POST"])
@login_required
def account_settings_view(request: HttpRequest) -> HttpResponse:
    form = AccountSettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your settings are saved.")
        response = HttpResponseRedirect(reverse("account_settings"))
        response.status_code = 303
        return response
    assert isinstance(request.user, User)  # login_required
    return render(
        request,
        "registration/account_settings.html",
        {
            "form": form,
            "two_factor": two_factor_status(user=request.user),
            "administered_agencies": administered_agency_list(user=request.user),
        },
    )


@require_POST
@login_required
def sign_out_everywhere_view(request: HttpRequest) -> HttpResponse:
    """End every session of the user, on every device, this one included."""
    assert isinstance(request.user, User)  # login_required
    user = request.user
    user_sessions_end(user=user)
    security_event_record(
        kind=SecurityEventKind.SIGN_OUT_EVERYWHERE,
        request=request,
        user=user,
        detail="Every session of the account was ended.",
    )
    request.sign_out_logged = True  # type: ignore[attr-defined]  # one entry, not two
    logout(request)
    messages.success(request, "You are signed out on every device, this one included.")
    response = HttpResponseRedirect(reverse("login"))
    response.status_code = 303
    return response


SECURITY_LOG_PAGE_SIZE = 50


@require_GET
@login_required
def security_log_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    """An agency's security log, newest first, for its admins only (404 for anyone else)."""
    agency = administered_agency_get(user=request.user, id=agency_id)
    form = SecurityLogFilterForm(request.GET)
    events = security_event_list(agency=agency)
    status = 200
    kind = ""
    if form.is_valid():
        kind = form.cleaned_data["kind"]
        if kind:
            events = events.filter(kind=kind)
    else:
        status = 400
    page = Paginator(events, SECURITY_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(event, user_agent_summary(event.user_agent)) for event in page.object_list]
    return render(
        request,
        "registration/security_log.html",
        {"agency": agency, "form": form, "kind": kind, "page": page, "rows": rows},
        status=status,
    )
