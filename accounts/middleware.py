"""The sign-in gate for two-factor authentication, in front of every page (the admin too)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_otp import login as otp_login

from accounts.models import User
from accounts.two_factor import REMEMBER_COOKIE, remembered_device_get, two_factor_state

# What the gate holds a signed-in person at.
HOLD_VERIFY = "verify"
HOLD_ENROL = "enrol"


class TwoFactorMiddleware:
    """Holds a signed-in person who still owes a second factor.

    Someone with an authenticator app whose session has not passed the code step (the password
    was accepted by the login view; this is the step after it) reaches only the code page,
    unless a valid "remember this device" cookie passes the step for them. Someone whose
    agency requires a second factor for their role and who has no app yet reaches only the
    setup page. Either may sign out, and static files are served as always. Everyone else,
    tenant roles included, passes untouched.

    Goes after ``django_otp.middleware.OTPMiddleware``, which sets ``user.is_verified()``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not isinstance(user, User) or not user.is_authenticated:
            return self.get_response(request)
        # Missing only if OTPMiddleware is not installed: then nobody counts as verified.
        is_verified = getattr(user, "is_verified", None)
        if is_verified is not None and is_verified():
            return self.get_response(request)
        state = two_factor_state(user=user)
        if state.has_device:
            remembered = remembered_device_get(
                user=user, value=request.COOKIES.get(REMEMBER_COOKIE)
            )
            if remembered is not None:
                otp_login(request, remembered)
                return self.get_response(request)
            hold, page = HOLD_VERIFY, reverse("two_factor_verify")
        elif state.required:
            hold, page = HOLD_ENROL, reverse("two_factor_setup")
        else:
            return self.get_response(request)
        # The templates hide the navigation that would only lead back here.
        request.two_factor_hold = hold  # type: ignore[attr-defined]
        if request.path == page or _always_open(request.path):
            return self.get_response(request)
        target = page
        if request.method == "GET":
            target = f"{page}?{urlencode({'next': request.get_full_path()})}"
        return HttpResponseRedirect(target)


def _always_open(path: str) -> bool:
    static = settings.STATIC_URL or "/static/"
    if not static.startswith("/"):
        static = f"/{static}"
    return path == reverse("logout") or path.startswith(static)
