"""How long a signed-in session lasts: an idle timeout and an absolute lifetime.

The session holds two times (seconds since the epoch): when its user signed in and when it was
last used. ``SessionLifetimeMiddleware`` ends it, with a message on the login page, once either
limit (``LINKER_SESSION_IDLE_MINUTES``, ``LINKER_SESSION_MAX_HOURS``) has passed. Ending every
session of a user at once is ``accounts.services.user_sessions_end``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

SIGNED_IN_AT = "accounts_signed_in_at"
SEEN_AT = "accounts_seen_at"
# "Last used" is written at most this often, so that a busy page does not save its session on
# every request; the idle timeout is this much less exact.
_SEEN_RESOLUTION = 60


@dataclass(frozen=True)
class SessionEnd:
    message: str  # for the person, on the login page
    detail: str  # for the security log


IDLE = SessionEnd(
    message="You were signed out after a while without activity. Please sign in again.",
    detail="Session ended: idle timeout",
)
TOO_OLD = SessionEnd(
    message="Your session reached its maximum length. Please sign in again.",
    detail="Session ended: maximum lifetime",
)


def session_stamp_sign_in(session: SessionBase, *, now: float | None = None) -> None:
    """Start the clocks of a session whose user has just signed in."""
    now = time.time() if now is None else now
    session[SIGNED_IN_AT] = int(now)
    session[SEEN_AT] = int(now)


def session_end_due(session: SessionBase, *, now: float) -> SessionEnd | None:
    """Why the session must end now, if it must."""
    signed_in_at = session.get(SIGNED_IN_AT)
    seen_at = session.get(SEEN_AT)
    if not isinstance(signed_in_at, int) or not isinstance(seen_at, int):
        return None
    if now - signed_in_at > settings.LINKER_SESSION_MAX_HOURS * 3600:
        return TOO_OLD
    if now - seen_at > settings.LINKER_SESSION_IDLE_MINUTES * 60:
        return IDLE
    return None


class SessionLifetimeMiddleware:
    """Ends a signed-in session past its idle timeout or its lifetime; else notes its use."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            end = session_end_due(session, now=now)
            if end is not None:
                # The sign-out receiver writes this into the security log entry.
                request.sign_out_detail = end.detail  # type: ignore[attr-defined]
                logout(request)
                messages.info(request, end.message)
                if request.method == "GET":
                    return redirect_to_login(request.get_full_path())
                # A form post cannot be replayed after signing in: just the login page.
                return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
            if not isinstance(session.get(SIGNED_IN_AT), int):
                # A session from before these limits: its clocks start now.
                session_stamp_sign_in(session, now=now)
            elif now - session.get(SEEN_AT, 0) >= _SEEN_RESOLUTION:
                session[SEEN_AT] = int(now)
        return self.get_response(request)
