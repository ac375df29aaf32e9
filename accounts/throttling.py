"""Throttles on the pages that accept a secret, and the page a throttled request gets.

Each throttle is django-ratelimit's ``ratelimit`` once per key (client address, user, email),
counting in the shared cache (Redis) with the rate named in the settings. A request over any
of its limits is refused with ``Ratelimited``; ``RatelimitMiddleware`` hands that to
``throttled_view`` (``RATELIMIT_VIEW``): a 429 page that says when to try again. Sign-in has its
own lockout (django-axes, ``accounts.sign_in``), which shows the same page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms import EmailField
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from django_ratelimit.decorators import ratelimit

from accounts.models import SecurityEventKind, User
from accounts.security_log import security_event_record

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def _user_key(group: str, request: HttpRequest) -> str:
    return f"user:{request.user.pk}" if request.user.is_authenticated else "user:anonymous"


def _email_key(group: str, request: HttpRequest) -> str:
    # One bucket per mailbox however it is spelled: "Ann@X.com " and "ann@x.com" are one.
    return "email:" + str(request.POST.get("email", "")).strip().lower()[:254]


_KEYS: dict[str, str | Callable[[str, HttpRequest], str]] = {
    "ip": "ip",
    "user": _user_key,
    "email": _email_key,
}


@dataclass(frozen=True)
class Throttle:
    name: str
    rate_setting: str  # the setting holding "count/period"
    keys: tuple[str, ...]
    method: Any  # django-ratelimit's ALL, or the methods counted
    heading: str
    what: str  # "... requests", for the page

    def rate(self, group: str, request: HttpRequest) -> str:
        # Read per request, so that a changed setting (a test's override) applies at once.
        return str(getattr(settings, self.rate_setting))

    def group(self, key: str) -> str:
        return f"accounts.throttle.{self.name}.{key}"


THROTTLES = {
    throttle.name: throttle
    for throttle in (
        Throttle(
            name="password_reset",
            rate_setting="LINKER_PASSWORD_RESET_RATE",
            keys=("ip", "email"),
            method="POST",
            heading="Too many password reset requests",
            what="password reset requests from this address or for this email",
        ),
        Throttle(
            name="reset_link",
            rate_setting="LINKER_TOKEN_LINK_RATE",
            keys=("ip",),
            method=ALL,
            heading="Too many attempts",
            what="password reset links opened from this address",
        ),
        Throttle(
            name="connect_link",
            rate_setting="LINKER_TOKEN_LINK_RATE",
            keys=("ip",),
            method=ALL,
            heading="Too many attempts",
            what="connect links opened from this address",
        ),
        Throttle(
            name="invitation",
            rate_setting="LINKER_TOKEN_LINK_RATE",
            keys=("ip",),
            method=ALL,
            heading="Too many attempts",
            what="invitation links opened from this address",
        ),
        Throttle(
            name="api_token",
            rate_setting="LINKER_API_TOKEN_RATE",
            keys=("user", "ip"),
            method="POST",
            heading="Too many API tokens tried",
            what="API tokens tried by you or from this address",
        ),
    )
}


def throttle(name: str) -> Callable[[View], View]:
    """Decorate a view with the throttle ``name`` of ``THROTTLES`` (every one of its keys)."""
    config = THROTTLES[name]

    def decorate(view: View) -> View:
        limited: Callable[..., HttpResponseBase] = view
        for key in config.keys:
            limited = ratelimit(
                group=config.group(key),
                key=_KEYS[key],
                rate=config.rate,
                method=config.method,
                block=True,
            )(limited)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            # For the 429 page: which throttle refused the request.
            request.throttle_name = name  # type: ignore[attr-defined]
            return limited(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def throttled_page(
    request: HttpRequest, *, heading: str, message: str, minutes: int
) -> HttpResponse:
    """The 429 page in the site's style (throttles and the sign-in lockout alike)."""
    response = render(
        request,
        "registration/throttled.html",
        {"heading": heading, "message": message, "minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response


def _usages(request: HttpRequest, config: Throttle) -> list[dict[str, Any]]:
    usages = []
    for key in config.keys:
        usage = get_usage(
            request,
            group=config.group(key),
            key=_KEYS[key],
            rate=config.rate,
            method=config.method,
            increment=False,
        )
        if usage is not None and usage["should_limit"]:
            usages.append(usage)
    return usages


def _posted_email(request: HttpRequest) -> str:
    """The reset form's email if it is one, else "".

    The throttle answers before the form validates: a NUL in the field would reach PostgreSQL
    (which refuses it: a 500) and junk would reach the security log.
    """
    try:
        return str(EmailField().clean(str(request.POST.get("email", ""))))
    except ValidationError:
        return ""


def _record(request: HttpRequest, config: Throttle) -> None:
    user: User | None = request.user if isinstance(request.user, User) else None
    email = ""
    if config.name == "password_reset":
        email = _posted_email(request)
        if email:
            user = user or User.objects.filter(email__iexact=email).first()
    security_event_record(
        kind=SecurityEventKind.THROTTLED,
        request=request,
        user=user,
        email=email,
        # The URL name, never the path: a connect or reset link's path is its secret.
        detail=f"Too many {config.what} ({config.rate('', request)}).",
    )


def throttled_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``RATELIMIT_VIEW``: a throttled request's 429 page, logged once per limit and window."""
    config = THROTTLES.get(getattr(request, "throttle_name", ""))
    if config is None:  # a ratelimit decorator not made by ``throttle``
        return throttled_page(
            request,
            heading="Too many requests",
            message="Please wait a little and try again.",
            minutes=1,
        )
    usages = _usages(request, config)
    # The first refused request of a window is logged; an attacker's next thousand are not.
    if any(usage["count"] == usage["limit"] + 1 for usage in usages):
        _record(request, config)
    seconds = max((usage["time_left"] for usage in usages), default=60)
    return throttled_page(
        request,
        heading=config.heading,
        message=f"There were too many {config.what}.",
        minutes=max(1, math.ceil(seconds / 60)),
    )
