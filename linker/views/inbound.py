"""Copernica's webhook deliveries: ``POST /inbound/copernica/<handler id>``.

No session and no CSRF token (Copernica's servers call it): the handler id and the signature
are the credentials, checked by :func:`linker.inbound.receiver.inbound_delivery_receive`
before anything is stored. 401 for a refused delivery (Copernica does not retry those), 200
once an accepted one is in the inbox; the mirror is updated by a worker.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from linker.inbound.receiver import inbound_delivery_receive


@csrf_exempt
@never_cache
def inbound_copernica_view(request: HttpRequest, handler_id: str) -> HttpResponse:
    if request.method != "POST":
        return _unlogged(HttpResponseNotAllowed(["POST"]))
    receipt = inbound_delivery_receive(
        handler_id=handler_id,
        method=request.method or "POST",
        target=request.get_full_path(),
        headers=dict(request.headers),
        body=request.body,
    )
    # A short word, never the reason: a forger learns nothing about which check failed.
    text = "accepted" if receipt.status < 300 else "refused"
    return _unlogged(HttpResponse(text, status=receipt.status, content_type="text/plain"))


def _unlogged(response: HttpResponse) -> HttpResponse:
    """The receiver logs refusals without the path: Django's own 4xx line would write the
    handler id (the credential in the URL) into the log."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
