"""The receiver: one delivery from Copernica checked, then stored in the inbox, or refused.

Everything on Copernica's checklist (``callbacks-security.md``) is checked by
:class:`api_client.WebhookVerifier` before anything is stored: the signature over at least
``(request-target) host date x-copernica-id digest``, ``Host`` ours, ``X-Copernica-ID`` the
link's account, ``Date`` within ``LINKER_WEBHOOK_MAX_AGE``, ``Digest`` the body's, and the
``keyId`` on an allowed host (``LINKER_WEBHOOK_KEY_HOSTS``) before its key is fetched. A refused
delivery is counted on its link and nothing else happens (401: Copernica does not retry it).

An accepted one is stored as an :class:`~linker.models.InboundEvent` keyed by its body's
SHA-256, so the same delivery twice (a retry, a duplicate, a replay inside the window, or one
change fired by a database's and a collection's webhook) is one row; the answer is 200 at once
and a worker applies the inbox (:mod:`linker.inbound.applying`). A replay outside the window
fails the ``Date`` check.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from api_client import WebhookVerificationError, WebhookVerifier, parse_timestamp
from api_client.webhooks import parse_webhook_body
from linker.inbound.keys import cached_key_lookup
from linker.models import InboundEvent, InboundLink, LinkState
from linker.platform.delivery import Task, enqueue

logger = logging.getLogger(__name__)

ACTIONS = frozenset({"create", "update", "delete"})


@dataclass(frozen=True)
class Receipt:
    """What the view answers: ``status`` and, for the log and tests, why."""

    status: int
    reason: str = ""
    stored: bool = False


#: Unix time, for the ``Date`` window (a test replays a request "later" through it).
clock = time.time


def _verifier() -> WebhookVerifier:
    return WebhookVerifier(
        cached_key_lookup,
        key_hosts=settings.LINKER_WEBHOOK_KEY_HOSTS,
        max_age=float(settings.LINKER_WEBHOOK_MAX_AGE),
        clock=lambda: clock(),
    )


def _own_host() -> str | None:
    """The host Copernica was told to call (the handler URL is under ``LINKER_BASE_URL``)."""
    netloc = urlsplit(settings.LINKER_BASE_URL).netloc
    return netloc or None


def _refuse(inbound: InboundLink | None, reason: str) -> Receipt:
    if inbound is not None:
        InboundLink.objects.filter(pk=inbound.pk).update(
            refused_count=F("refused_count") + 1,
            refused_last_at=timezone.now(),
            refused_last_reason=reason[:40],
        )
    logger.warning(
        "Webhook delivery refused (%s) for link %s",
        reason,
        inbound.link_id if inbound else "unknown",
    )
    return Receipt(401, reason)


def _number(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def event_fields(document: dict[str, Any]) -> dict[str, Any] | None:
    """The inbox columns of a (sub)profile event; ``None`` for anything else (another trigger,
    or variables missing)."""
    action = str(document.get("action") or document.get("type") or "")
    if action not in ACTIONS:
        return None
    if "subprofile" in document or "collection" in document:
        copernica_id = _number(document.get("subprofile") or document.get("id"))
        kind = "subprofile"
    else:
        copernica_id = _number(document.get("profile") or document.get("id"))
        kind = "profile"
    if copernica_id is None:
        return None
    return {
        "action": action,
        "kind": kind,
        "copernica_id": copernica_id,
        "profile_copernica_id": _number(document.get("profile")),
        "database_copernica_id": _number(document.get("database")),
        "collection_copernica_id": _number(document.get("collection")),
        "modified": parse_timestamp(document.get("modified")) if action != "delete" else None,
        "created": parse_timestamp(document.get("created")) if action != "delete" else None,
    }


def inbound_delivery_receive(
    *, handler_id: str, method: str, target: str, headers: dict[str, str], body: bytes
) -> Receipt:
    """Check one delivery to ``/inbound/copernica/<handler_id>`` and store it, or refuse it."""
    inbound = (
        InboundLink.objects.select_related("link").filter(handler_id=handler_id).first()
        if handler_id
        else None
    )
    if inbound is None:
        return _refuse(None, "unknown_handler")
    link = inbound.link
    if link.state == LinkState.DISCONNECTED or not link.copernica_account_id:
        return _refuse(inbound, "disconnected")
    try:
        _verifier().verify(
            method=method,
            target=target,
            headers=headers,
            body=body,
            account_id=link.copernica_account_id,
            host=_own_host(),
        )
    except WebhookVerificationError as refusal:
        return _refuse(inbound, str(refusal.reason))
    document = parse_webhook_body(body)
    columns = event_fields(document)
    now = timezone.now()
    InboundLink.objects.filter(pk=inbound.pk).update(
        accepted_count=F("accepted_count") + 1, accepted_last_at=now
    )
    if columns is None:
        # Genuine, but not a (sub)profile change: nothing to mirror; 2xx so it is not retried.
        return Receipt(202, "ignored")
    try:
        with transaction.atomic():
            InboundEvent.objects.create(
                link_id=link.pk,
                body_sha256=hashlib.sha256(body).hexdigest(),
                payload=document,
                received_at=now,
                **columns,
            )
    except IntegrityError:
        return Receipt(200, "duplicate")
    enqueue(Task.INBOUND_EVENTS_APPLY, link.pk)
    return Receipt(200, "accepted", stored=True)
