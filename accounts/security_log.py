"""The agency security log: one function that writes it and one that reads it.

An event about a person is filed under every agency they work for (directly or through a
tenant), so each agency admin sees what concerns their people and nothing of another agency.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Agency, Membership, SecurityEvent, SecurityEventKind, User

_UA_MAX = SecurityEvent._meta.get_field("user_agent").max_length or 300
_DETAIL_MAX = SecurityEvent._meta.get_field("detail").max_length or 500


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
    user: User | None = None,
    email: str = "",
    agency: Agency | None = None,
    agencies: Iterable[Agency] | None = None,
    detail: str = "",
) -> list[SecurityEvent]:
    """Write one event, under ``agency`` (or ``agencies``), or every agency ``user`` works for."""
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
        "email": (email or (user.email if user is not None else ""))[:254],
        "kind": kind,
        "ip_address": client_address(request),
        "user_agent": user_agent[:_UA_MAX],
        "detail": detail[:_DETAIL_MAX],
    }
    return SecurityEvent.objects.bulk_create(
        [SecurityEvent(agency=target, **common) for target in targets]
    )


def security_event_list(*, agency: Agency) -> QuerySet[SecurityEvent]:
    """The agency's log, newest first. Callers check that the viewer administers ``agency``."""
    return SecurityEvent.objects.filter(agency=agency).select_related("user")
