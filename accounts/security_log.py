"""The agency security log: one function that writes it and one that reads it.

An event about a person is filed under every agency they work for (directly or through a
tenant), so each agency admin sees what concerns their people and nothing of another agency.

Services record events without a request in hand (a link made, a member removed): while a
request is served, ``SecurityLogRequestMiddleware`` keeps it in a context variable, and an
event recorded without ``request`` takes its address and browser from there. Outside a request
(a worker, a command) they stay empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.models import Agency, Membership, SecurityEvent, SecurityEventKind, User

_UA_MAX = SecurityEvent._meta.get_field("user_agent").max_length or 300
_DETAIL_MAX = SecurityEvent._meta.get_field("detail").max_length or 500
# NUL and other control characters: PostgreSQL refuses NUL in text, and a log line is one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_current_request: ContextVar[HttpRequest | None] = ContextVar("security_log_request", default=None)


class SecurityLogRequestMiddleware:
    """Keeps the request being served at hand for events recorded by services."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


def _clean(text: str, limit: int) -> str:
    return _CONTROL.sub("", text)[:limit]


def client_address(request: HttpRequest | None) -> str | None:
    """The address the request came from, as the server saw it (``REMOTE_ADDR``).

    Behind a proxy, the proxy must set REMOTE_ADDR (gunicorn's ``--forwarded-allow-ips``);
    X-Forwarded-For is never trusted here, so a client cannot choose its own address.
    """
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _agencies_of(user: User) -> list[Agency | None]:
    rows = Membership.objects.filter(user=user).select_related("agency", "tenant__agency")
    agencies: dict[int, Agency] = {}
    for membership in rows:
        agency = membership.agency or (membership.tenant.agency if membership.tenant else None)
        if agency is not None:
            agencies[agency.pk] = agency
    return list(agencies.values()) or [None]


def security_event_record(
    *,
    kind: SecurityEventKind,
    request: HttpRequest | None = None,
    user: User | AnonymousUser | None = None,
    email: str = "",
    agency: Agency | None = None,
    agencies: Iterable[Agency] | None = None,
    detail: str = "",
) -> list[SecurityEvent]:
    """Write one event, under ``agency`` (or ``agencies``), or every agency ``user`` works for.

    Without ``request``, the request being served (if any) says where the event came from.
    """
    if request is None:
        request = _current_request.get()
    if not isinstance(user, User):
        user = None  # anonymous: nobody known acted
    if agency is not None:
        targets: list[Agency | None] = [agency]
    elif agencies is not None:
        targets = list(agencies) or [None]
    elif user is not None:
        targets = _agencies_of(user)
    else:
        targets = [None]
    user_agent = request.headers.get("user-agent", "") if request is not None else ""
    common = {
        "user": user,
        "email": _clean(email or (user.email if user is not None else ""), 254),
        "kind": kind,
        "ip_address": client_address(request),
        "user_agent": _clean(user_agent, _UA_MAX),
        "detail": _clean(detail, _DETAIL_MAX),
    }
    return SecurityEvent.objects.bulk_create(
        [SecurityEvent(agency=target, **common) for target in targets]
    )


def security_event_list(*, agency: Agency) -> QuerySet[SecurityEvent]:
    """The agency's log, newest first. Callers check that the viewer administers ``agency``."""
    return SecurityEvent.objects.filter(agency=agency).select_related("user")


# (pattern, name) in order: Edge and Opera say "Chrome" too, and Chrome says "Safari".
_BROWSERS = (
    (re.compile(r"Edg(?:e|A|iOS)?/(\d+)"), "Edge"),
    (re.compile(r"OPR/(\d+)"), "Opera"),
    (re.compile(r"Firefox/(\d+)"), "Firefox"),
    (re.compile(r"(?:Chrome|CriOS)/(\d+)"), "Chrome"),
    (re.compile(r"Version/(\d+)[^ ]* (?:Mobile/\S+ )?Safari/"), "Safari"),
    (re.compile(r"curl/(\d+)"), "curl"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def user_agent_summary(user_agent: str) -> str:
    """A browser's User-Agent in a few words ("Firefox 128 on Windows"), for the log's table.

    Unknown ones are cut short; the page shows the whole string on hover.
    """
    browser = ""
    for pattern, name in _BROWSERS:
        found = pattern.search(user_agent)
        if found:
            browser = f"{name} {found.group(1)}"
            break
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    return user_agent if len(user_agent) <= 40 else user_agent[:39] + "…"
