"""HTTP middleware of the project."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class ContentSecurityPolicyMiddleware:
    """Adds the project's Content-Security-Policy (no third-party sources) to every response.

    Django 5.2 has no built-in CSP support; one fixed header is all this project needs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy: str = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = self.policy
        # A page whose form leads to Copernica's consent page names that origin: browsers
        # apply form-action to the redirect that follows the POST.
        extra = getattr(response, "csp_form_action", None)
        if extra:
            policy = policy.replace("form-action 'self'", f"form-action 'self' {extra}", 1)
        response.headers.setdefault("Content-Security-Policy", policy)
        return response


class UserTimeZoneMiddleware:
    """Shows times in the logged-in user's time zone (``User.time_zone``), else TIME_ZONE.

    Goes after AuthenticationMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = getattr(getattr(request, "user", None), "time_zone", "") or ""
        zone = _zone(name)
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
