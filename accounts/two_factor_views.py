"""The two-factor pages: setup, recovery codes, turning off, the code step, agency policy."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts.forms import (
    TwoFactorCodeForm,
    TwoFactorDisableForm,
    TwoFactorPolicyForm,
    TwoFactorVerifyForm,
)
from accounts.models import SecurityEventKind, User
from accounts.security_log import security_event_record
from accounts.selectors import administered_agency_get
from accounts.two_factor import (
    REMEMBER_COOKIE,
    TwoFactorError,
    TwoFactorThrottledError,
    agency_two_factor_members,
    agency_two_factor_set,
    recovery_codes_regenerate,
    remember_cookie_value,
    remember_days,
    totp_qr_svg,
    totp_secret_text,
    two_factor_device,
    two_factor_disable,
    two_factor_enable,
    two_factor_setup_device,
    two_factor_status,
    two_factor_verify,
)

# New recovery codes wait here between the POST that made them and the page that shows them
# once (the page takes them out of the session as it renders).
_NEW_CODES = "two_factor_new_codes"
# Wrong codes at the sign-in step in this session; at the limit the person is signed out.
_FAILURES = "two_factor_failures"
MAX_FAILURES = 5


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _next_url(request: HttpRequest) -> str:
    """The page to go on to: ``next`` if it stays on this site, else the dashboard."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(url: str, request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    return f"{url}?{urlencode({'next': wanted})}" if wanted else url


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required ran first
    return user


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def two_factor_setup_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        device = two_factor_setup_device(user=user)
    except TwoFactorError as exc:
        messages.info(request, str(exc))
        return _see_other(reverse("account_settings"))
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = two_factor_enable(
                user=user, device=device, code=form.cleaned_data["code"], request=request
            )
        except TwoFactorError as exc:
            form.add_error("code", str(exc))
        else:
            otp_login(request, device)
            request.session[_NEW_CODES] = codes
            messages.success(request, "Two-factor authentication is on.")
            return _see_other(_with_next(reverse("two_factor_recovery_codes"), request))
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            # segno's own markup from the device's otpauth:// URL: no user input in it.
            "qr_svg": mark_safe(totp_qr_svg(device)),  # noqa: S308
            "secret": totp_secret_text(device),
            "required": two_factor_status(user=user).required,
            "next": request.POST.get("next") or request.GET.get("next") or "",
        },
    )


@never_cache
@require_http_methods(["GET"])
@login_required
def two_factor_recovery_codes_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    codes = request.session.pop(_NEW_CODES, None)
    status = two_factor_status(user=user)
    if not status.enabled:
        return _see_other(reverse("account_settings"))
    wanted = request.GET.get("next") or ""
    done_url = _next_url(request) if wanted else reverse("account_settings")
    return render(
        request,
        "registration/two_factor_recovery_codes.html",
        {"codes": codes, "status": status, "done_url": done_url},
    )


@require_POST
@login_required
def two_factor_recovery_codes_regenerate_view(request: HttpRequest) -> HttpResponse:
    try:
        codes = recovery_codes_regenerate(user=_user(request), request=request)
    except TwoFactorError as exc:
        messages.error(request, str(exc))
        return _see_other(reverse("account_settings"))
    request.session[_NEW_CODES] = codes
    messages.success(request, "New recovery codes made: the old ones no longer work.")
    return _see_other(reverse("two_factor_recovery_codes"))


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def two_factor_disable_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    status = two_factor_status(user=user)
    if not status.enabled:
        messages.info(request, "Two-factor authentication is not on for your account.")
        return _see_other(reverse("account_settings"))
    form = TwoFactorDisableForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            two_factor_disable(
                user=user, credential=form.cleaned_data["credential"], request=request
            )
        except TwoFactorError as exc:
            form.add_error("credential", str(exc))
        else:
            messages.success(request, "Two-factor authentication is off.")
            response = _see_other(reverse("account_settings"))
            response.delete_cookie(REMEMBER_COOKIE)
            return response
    return render(request, "registration/two_factor_disable.html", {"form": form, "status": status})


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def two_factor_verify_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    next_url = _next_url(request)
    if getattr(user, "is_verified", lambda: False)() or two_factor_device(user=user) is None:
        return HttpResponseRedirect(next_url)
    form = TwoFactorVerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        problem = ""
        try:
            device = two_factor_verify(user=user, code=form.cleaned_data["code"], request=request)
        except TwoFactorThrottledError as exc:
            device, problem = None, str(exc)
        if device is not None:
            request.session.pop(_FAILURES, None)
            # A privilege step: a new session key, as at the password step.
            request.session.cycle_key()
            otp_login(request, device)
            response = HttpResponseRedirect(next_url)
            app = two_factor_device(user=user)
            if form.cleaned_data["remember"] and remember_days() and app is not None:
                response.set_cookie(
                    REMEMBER_COOKIE,
                    remember_cookie_value(device=app),
                    max_age=remember_days() * 86_400,
                    httponly=True,
                    secure=settings.SESSION_COOKIE_SECURE,
                    samesite="Lax",
                )
            return response
        failures = int(request.session.get(_FAILURES, 0)) + 1
        if failures >= MAX_FAILURES:
            security_event_record(
                kind=SecurityEventKind.TWO_FACTOR_FAILED,
                request=request,
                user=user,
                detail=f"{MAX_FAILURES} wrong codes in a row at sign-in: signed out.",
            )
            logout(request)
            messages.error(
                request,
                f"{MAX_FAILURES} wrong codes in a row: you are signed out. Sign in again to "
                "try once more, or ask an operator to reset two-factor if you lost your phone.",
            )
            return _see_other(resolve_url(settings.LOGIN_URL))
        request.session[_FAILURES] = failures
        left = MAX_FAILURES - failures
        form.add_error(
            "code",
            problem
            or f"That code is not right. {left} {'try' if left == 1 else 'tries'} left before "
            "you are signed out.",
        )
    return render(
        request,
        "registration/two_factor_verify.html",
        {"form": form, "next": _next_url(request), "remember_days": remember_days()},
    )


@require_http_methods(["GET", "POST"])
@login_required
def agency_security_view(request: HttpRequest, agency_id: int) -> HttpResponse:
    user = _user(request)
    agency = administered_agency_get(user=user, id=agency_id)
    form = TwoFactorPolicyForm(request.POST or None, initial={"two_factor": agency.two_factor})
    if request.method == "POST" and form.is_valid():
        try:
            changed = agency_two_factor_set(
                agency=agency, policy=form.cleaned_data["two_factor"], user=user, request=request
            )
        except TwoFactorError as exc:
            form.add_error("two_factor", str(exc))
        else:
            if changed:
                messages.success(
                    request, f"Two-factor policy saved: {agency.get_two_factor_display()}."
                )
            return _see_other(reverse("agency_security", kwargs={"agency_id": agency.pk}))
    return render(
        request,
        "registration/two_factor_policy.html",
        {"agency": agency, "form": form, "members": agency_two_factor_members(agency=agency)},
    )
