"""Every API request in the request log: key, method, path (secrets masked), status, duration.

:func:`recorded` wraps each view of ``linker.api.urls``, the catch-all for unknown addresses
included, so the log holds unknown keys and mistyped paths as well as answered requests.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from accounts.security_log import client_address
from api_client.redaction import redact
from linker.models import ApiKey
from linker.platform.api_keys import KEY_START, api_request_record

# An API key pasted into a URL by mistake.
_KEY_IN_TEXT = re.compile(re.escape(KEY_START) + r"[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def loggable_path(request: HttpRequest) -> str:
    """The request's path and query string, with secret-looking values masked."""
    path = request.get_full_path()
    return _CONTROL.sub("", _KEY_IN_TEXT.sub(KEY_START + "***", redact(path)))


def _key_of(request: HttpRequest) -> ApiKey | None:
    key = getattr(request, "auth", None)
    if isinstance(key, ApiKey):
        return key
    refused = getattr(request, "api_key_refused", None)
    return refused if isinstance(refused, ApiKey) else None


def recorded(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """``view``, with each of its requests written to the API request log."""

    @functools.wraps(view)
    def logged(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        started = time.perf_counter()
        response = view(request, *args, **kwargs)
        api_request_record(
            key=_key_of(request),
            method=request.method or "",
            path=loggable_path(request),
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000),
            ip_address=client_address(request),
        )
        return response

    return logged
