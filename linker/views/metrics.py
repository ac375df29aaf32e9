"""``/metrics`` for Prometheus, behind a bearer token (``LINKER_METRICS_TOKEN``)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from linker.health.metrics import metrics_render


def _token_matches(request: HttpRequest, expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Bytes, compared in constant time: any header a client sends is refused, never an error.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), expected.encode()
    )


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics of :mod:`linker.health.metrics`; 404 when no token is configured, 401 without
    the right one."""
    expected = settings.LINKER_METRICS_TOKEN
    if not expected:
        raise Http404("No metrics here.")
    if not _token_matches(request, expected):
        refused = HttpResponse(
            "A bearer token is required.\n", status=401, content_type="text/plain"
        )
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
