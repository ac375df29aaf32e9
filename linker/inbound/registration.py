"""A link's webhooks at Copernica: registered on link and relink, checked and repaired daily.

For each database and each collection of the account, one webhook per trigger (``create``,
``update``, ``delete``) calls ``LINKER_BASE_URL/inbound/copernica/<handler id>``; the handler
id is 256 random bits per link (:class:`~linker.models.InboundLink`), changed on disconnect, so
the URL itself names the link and an old URL names none.

``callers`` lists every caller Copernica documents except ``rest``: the linker's own write-back
goes through the REST API, and its effect is already in the mirror (``mirror_apply``), so
Copernica must not echo it back. (Another REST client of the same account is not seen
by webhooks either: the gap check's incremental runs still bring those changes.)

A database webhook also fires for the subprofiles of its collections (as the sandbox does; the
documentation leaves it open), so a subprofile change may arrive twice, once per webhook: the
inbox stores identical bodies once.

Registering is idempotent: what is registered is read first (``webhook_list``), webhooks of
ours under another handler id (a disconnect's leftovers) are removed, the missing ones created.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from api_client import CopernicaError, NotFoundError
from linker.linking.client import metered_session
from linker.models import InboundLink, InboundWebhook, Link, SyncSchedule, WebhookHealth
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import LinkerError

logger = logging.getLogger(__name__)

TRIGGERS = ("create", "update", "delete")
#: ``callbacks.md``'s callers (and ``ms``) without ``rest``: see the module docstring.
CALLERS = ("publisher", "soap", "click", "open", "failure", "bounce", "import", "copy", "ms")

Target = tuple[str, int, int | None]  # trigger, database, collection


def handler_prefix() -> str:
    """Every handler URL of this deployment starts so (the tail is a handler id)."""
    return settings.LINKER_BASE_URL.rstrip("/") + reverse("inbound_copernica", args=["x"])[:-1]


def handler_url(inbound: InboundLink) -> str:
    return handler_prefix() + inbound.handler_id


def _number(value: object) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() else None


def _expected(client: object) -> list[Target]:
    targets: list[Target] = []
    for database in client.databases():  # type: ignore[attr-defined]
        database_id = int(database["ID"])
        places: list[tuple[int, int | None]] = [(database_id, None)]
        for collection in client.collections(database_id):  # type: ignore[attr-defined]
            places.append((database_id, int(collection["ID"])))
        targets += [(trigger, db, col) for db, col in places for trigger in TRIGGERS]
    return targets


def _mark(inbound: InboundLink, state: str, reason: str) -> None:
    now = timezone.now()
    inbound.state, inbound.state_reason, inbound.checked_at = state, reason[:300], now
    if state != WebhookHealth.HEALTHY:
        inbound.healthy_since = None
    inbound.save(update_fields=["state", "state_reason", "checked_at", "healthy_since"])
    if state != WebhookHealth.HEALTHY:
        # Polling is the only source again: no waiting out a stretched interval.
        SyncSchedule.objects.filter(
            link_id=inbound.link_id,
            next_incremental_at__gt=now + timedelta(minutes=1),
        ).update(next_incremental_at=now)


def inbound_webhooks_register(*, link: Link) -> InboundLink | None:
    """Make the link's webhooks at Copernica what they should be; returns their state.

    ``None`` when the link is not usable (nothing to call Copernica with).
    """
    if not link.is_usable:
        return None
    inbound, _ = InboundLink.objects.get_or_create(link=link)
    if not settings.LINKER_BASE_URL:
        _mark(inbound, WebhookHealth.FAILING, "LINKER_BASE_URL is not set: no handler URL.")
        return inbound
    url, prefix = handler_url(inbound), handler_prefix()
    created: list[InboundWebhook] = []
    try:
        with metered_session(link) as session:
            client = session.client
            expected = _expected(client)
            held: dict[Target, str] = {}
            for hook in client.webhook_list():
                handler = str(hook.get("handler") or "")
                if not handler.startswith(prefix):
                    continue  # another application's webhook: not ours to touch
                if handler != url:
                    with contextlib.suppress(NotFoundError):  # gone already
                        client.webhook_delete(hook["ID"])
                    continue
                key = (
                    str(hook.get("trigger")),
                    _number(hook.get("database")) or 0,
                    _number(hook.get("collection")),
                )
                held[key] = str(hook["ID"])
            missing = [target for target in expected if target not in held]
            for trigger, database_id, collection_id in missing:
                webhook_id = client.webhook_create(
                    url,
                    trigger,
                    callers=CALLERS,
                    database_id=database_id,
                    collection_id=collection_id,
                )
                held[(trigger, database_id, collection_id)] = webhook_id
    except (CopernicaError, LinkerError) as error:
        logger.warning("Registering the webhooks of link %s failed: %s", link.pk, error)
        _mark(inbound, WebhookHealth.FAILING, f"Registering at Copernica failed: {error}")
        return inbound
    with transaction.atomic():
        locked = InboundLink.objects.select_for_update().get(pk=inbound.pk)
        if locked.handler_id != inbound.handler_id:
            return locked  # disconnected meanwhile: those webhooks are being removed
        InboundWebhook.objects.filter(inbound=locked).delete()
        for (trigger, database_id, collection_id), webhook_id in held.items():
            if (trigger, database_id, collection_id) in expected:
                created.append(
                    InboundWebhook(
                        inbound=locked,
                        webhook_id=webhook_id,
                        trigger=trigger,
                        database_copernica_id=database_id,
                        collection_copernica_id=collection_id,
                    )
                )
        InboundWebhook.objects.bulk_create(created)
        repaired = len(missing)
        was_healthy = locked.state == WebhookHealth.HEALTHY
        reason = f"{len(created)} webhooks registered" + (
            f" ({repaired} added)" if repaired else ""
        )
        _mark(locked, WebhookHealth.HEALTHY, reason + ".")
        if not was_healthy or repaired:
            # Changes before now may have been missed: gaps are counted from here on.
            locked.healthy_since = timezone.now()
            locked.save(update_fields=["healthy_since"])
    return locked


def inbound_webhooks_check_due() -> int:
    """Daily: check (and repair) the webhooks of every usable link; returns links enqueued."""
    if not settings.LINKER_WEBHOOKS_REGISTER:
        return 0
    usable = Link.objects.filter(Link.usable_q())
    link_ids = list(usable.values_list("pk", flat=True))
    for link_id in link_ids:
        enqueue(Task.INBOUND_WEBHOOKS_REGISTER, link_id)
    return len(link_ids)
