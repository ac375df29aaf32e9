"""Signing in and out: django-axes' hooks (lockout) and the security log of each attempt.

django-axes counts failed sign-ins per account and per client address (``AXES_*`` settings);
at ``LINKER_LOGIN_FAILURE_LIMIT`` failures of either, sign-in is refused, the right password
included, for ``LINKER_LOGIN_COOLOFF_MINUTES`` after the last failure. The receivers below
are connected in ``AccountsConfig.ready``, after axes' own (``axes`` comes first in
``INSTALLED_APPS``), so the counts axes puts on the request are there when they run.
"""

from __future__ import annotations

import math
import re
from typing import Any

from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse

from accounts.models import SecurityEventKind, User
from accounts.security_log import security_event_record
from accounts.sessions import session_stamp_sign_in
from accounts.throttling import throttled_page

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_USERNAME_MAX = 254


def login_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """``AXES_USERNAME_CALLABLE``: the account a sign-in is for, as one spelling.

    Emails are stored lower-case; counting "Ann@x.com" apart from "ann@x.com" would give an
    attacker a fresh count per spelling. Control characters (NUL) never reach the database.
    """
    value: Any = None
    if credentials:
        value = credentials.get("username")
    if value is None and request is not None:
        value = request.POST.get("username")
    return _CONTROL.sub("", str(value or "")).strip().lower()[:_USERNAME_MAX]


def _cool_off_minutes(request: HttpRequest) -> int:
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else 1


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the 429 page a locked-out sign-in gets."""
    minutes = _cool_off_minutes(request)
    return throttled_page(
        request,
        heading="Too many failed sign-ins",
        message=(
            "For your security, signing in to this account, and from this address, is paused "
            "after too many failed attempts."
        ),
        minutes=minutes,
    )


def _account(email: str) -> User | None:
    return User.objects.filter(email=email).first() if email else None


def on_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """``user_login_failed``: a wrong password, an unknown email, or a refusal in lockout."""
    email = login_username(request, credentials)
    failures = getattr(request, "axes_failures_since_start", None) or 0
    limit = get_failure_limit(request, credentials) if request is not None else 0
    detail = "Refused: locked out" if limit and failures > limit else "Wrong email or password"
    security_event_record(
        kind=SecurityEventKind.SIGN_IN_FAILED,
        request=request,
        user=_account(email),
        email=email,
        detail=detail,
    )


def on_locked_out(
    sender: Any,
    request: HttpRequest | None = None,
    username: str | None = None,
    ip_address: str | None = None,
    **kwargs: Any,
) -> None:
    """axes' ``user_locked_out``: logged when a count reaches the limit (each refusal after
    it is a failed sign-in of its own)."""
    if request is None:
        return
    failures = getattr(request, "axes_failures_since_start", None) or 0
    limit = get_failure_limit(request, None)
    if failures != limit:
        return
    email = username or ""
    security_event_record(
        kind=SecurityEventKind.LOCKED_OUT,
        request=request,
        user=_account(email),
        email=email,
        detail=(
            f"Locked out after {failures} failed sign-ins; cool-off "
            f"{_cool_off_minutes(request)} minutes."
        ),
    )


def on_signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        session_stamp_sign_in(request.session)
    security_event_record(kind=SecurityEventKind.SIGN_IN, request=request, user=user)


def on_signed_out(
    sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    if user is None or getattr(request, "sign_out_logged", False):
        return
    security_event_record(
        kind=SecurityEventKind.SIGN_OUT,
        request=request,
        user=user,
        detail=getattr(request, "sign_out_detail", ""),
    )
