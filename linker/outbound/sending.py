"""Delivering webhook events: signed per Standard Webhooks, at least once, in order per
endpoint and tenant, retried with backoff for 24 h.

The outbox send of the house: lock the delivery and mark it *sending* (one attempt more), post
outside any transaction, lock it again and record the answer. A worker that dies mid-post
leaves a *sending* row that :func:`webhook_deliveries_relay` hands out again after
:data:`STALE_AFTER`, so a receiver may see an event twice (at least once) but always with the
same ``webhook-id``, which is the event's: receivers drop duplicates by it.

Order: a delivery waits while an earlier one (lower id) of the same endpoint and tenant is
pending or sending; when one finishes the task goes straight on with the next of its queue on
the same connection (up to :data:`DRAIN_BATCH`), then hands the rest to a new message. A
delivery still failing 24 h after its first attempt is given up (*failed*) and the queue moves
on; an endpoint whose attempts have all failed for 24 h is disabled and its agency's admins get
an email.

Cost per delivery: one task sends a queue's deliveries in order on one kept-alive connection;
they are claimed and recorded :data:`CLAIM_BATCH` at a time (two transactions per batch, rows
updated in one statement, attempts inserted in one), and each batch resolves and checks the
endpoint's address and decodes its secret once (:func:`_route`). The recording side (the
finish, retries, the failing streak) is :mod:`linker.outbound.recording`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Min, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.selectors import AnyUser, is_agency_admin
from linker.models import WebhookDelivery
from linker.outbound.addresses import Target, webhook_target_resolve
from linker.outbound.endpoints import webhook_secret
from linker.outbound.errors import WebhookUrlError
from linker.outbound.recording import Answer, Claim, deliveries_finish
from linker.platform.delivery import Task, enqueue
from linker.platform.vault import VaultError

logger = logging.getLogger(__name__)

State = WebhookDelivery.State
#: A *sending* row older than this lost its worker (well above the request timeout).
STALE_AFTER = timedelta(minutes=2)
#: Deliveries one task sends in a row on one connection before it hands over.
DRAIN_BATCH = 2000
#: Deliveries claimed and recorded together (two transactions for them all, not for each),
#: on one checked address (see ``_route``).
CLAIM_BATCH = 500
#: A batch stops posting after this long, well before its claims could go stale.
BATCH_SECONDS = 30.0
#: The stored start of a receiver's answer (its page could be anything, of any size).
EXCERPT_BYTES = 300
USER_AGENT = "Copernica-Linker-Webhooks/1"


def _earlier_pending(delivery: WebhookDelivery) -> bool:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        tenant_id=delivery.tenant_id,  # type: ignore[misc]  # None matches IS NULL
        id__lt=delivery.pk,
        state__in=(State.PENDING, State.SENDING),
    ).exists()


def _claim(delivery_id: int, now: datetime, *, limit: int = 1) -> list[Claim]:
    """Mark the delivery *sending* if it is due, its endpoint enabled, and first in line; with
    it, up to ``limit - 1`` due deliveries that follow it in its queue, in order."""
    with transaction.atomic():
        head = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if head is None or not head.endpoint.enabled:
            return []
        if head.state == State.SENDING:
            if head.sending_since and head.sending_since > now - STALE_AFTER:
                return []  # another worker has it
        elif head.state != State.PENDING or head.next_attempt_at > now:
            return []  # done, or a retry whose own message comes later
        if _earlier_pending(head):
            return []  # the head of its queue will hand over to it
        try:
            secret: str | None = webhook_secret(head.endpoint)
        except VaultError:
            secret = None
        batch = [head]
        if limit > 1:
            following = (
                WebhookDelivery.objects.select_for_update(of=("self",))
                .select_related("event")
                .filter(
                    endpoint_id=head.endpoint_id,
                    tenant_id=head.tenant_id,  # type: ignore[misc]  # None matches IS NULL
                    id__gt=head.pk,
                    state=State.PENDING,
                )
                .order_by("id")[: limit - 1]
            )
            for delivery in following:
                if delivery.next_attempt_at > now:
                    break  # not due: the ones after it wait for it
                batch.append(delivery)
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in batch]).update(
            state=State.SENDING,
            sending_since=now,
            attempts=F("attempts") + 1,
            first_attempt_at=Coalesce("first_attempt_at", Value(now)),
        )
        return [
            Claim(
                delivery_id=d.pk,
                sending_since=now,
                attempt=d.attempts + 1,
                first_attempt_at=d.first_attempt_at,
                url=head.endpoint.url,
                msg_id=d.event.msg_id,
                body=d.event.body,
                secret=secret,
            )
            for d in batch
        ]


def _timeout() -> httpx.Timeout:
    seconds = float(settings.LINKER_WEBHOOKS_TIMEOUT_SECONDS)
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def signature_headers(*, signer: Webhook, msg_id: str, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (``webhook-signature`` v1, HMAC-SHA256),
    ``signer`` holding the endpoint's secret."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign(msg_id, at, body),
    }


def _read_excerpt(response: httpx.Response) -> str:
    taken = b""
    for chunk in response.iter_bytes():
        taken += chunk
        if len(taken) >= EXCERPT_BYTES:
            break  # the rest is never read: closing the stream drops it
    return taken[:EXCERPT_BYTES].decode("utf-8", errors="replace")[:EXCERPT_BYTES]


@dataclass(frozen=True)
class _Route:
    """Where and how one batch of an endpoint's deliveries is sent: the address checked for
    it (or why none may be used) and the endpoint's signer."""

    target: Target | None
    refused: str
    signer: Webhook | None


def _route(claims: list[Claim]) -> _Route:
    """The route of a batch, checked once for all of it.

    The name is resolved and every address it has checked here, once per batch rather than
    once per delivery, and the batch dials the checked *address* (the name goes only in Host
    and the TLS server name). So every connection the batch opens, the first and any the
    client opens again after the receiver closed a kept-alive one, goes to an address that was
    checked for it; a DNS answer that changes later is seen by the next batch. The signer
    decodes the endpoint's secret once, not per delivery.
    """
    head = claims[0]
    signer = Webhook(head.secret) if head.secret is not None else None
    try:
        return _Route(target=webhook_target_resolve(head.url), refused="", signer=signer)
    except WebhookUrlError as exc:
        return _Route(target=None, refused=f"Not sent: {exc}", signer=signer)


def _post(client: httpx.Client, claim: Claim, route: _Route) -> Answer:
    started = time.monotonic()

    def answer(ok: bool, code: int | None, error: str, excerpt: str = "") -> Answer:
        took = int((time.monotonic() - started) * 1000)
        return Answer(ok, code, took, error[:300], excerpt)

    if route.signer is None:
        return answer(False, None, "The endpoint's secret does not decrypt; rotate it.")
    target = route.target
    if target is None:
        return answer(False, None, route.refused)
    at = datetime.now(UTC)
    headers = {
        **signature_headers(signer=route.signer, msg_id=claim.msg_id, body=claim.body, at=at),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": target.host_header,
    }
    # Dial the address that was checked; the name goes in Host and the TLS server name.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with client.stream(
            "POST",
            target.dial_url,
            content=claim.body.encode(),
            headers=headers,
            extensions=extensions,
        ) as response:
            excerpt = _read_excerpt(response)
            code = response.status_code
    except httpx.TimeoutException:
        return answer(False, None, f"Timed out after {settings.LINKER_WEBHOOKS_TIMEOUT_SECONDS} s.")
    except httpx.HTTPError as exc:
        return answer(False, None, f"Could not deliver: {type(exc).__name__}.")
    if 200 <= code < 300:
        return answer(True, code, "", excerpt)
    if 300 <= code < 400:
        return answer(False, code, f"Redirect ({code}) not followed.", excerpt)
    return answer(False, code, f"The receiver answered {code}.", excerpt)


def webhook_delivery_send(*, delivery_id: int, now: datetime | None = None) -> int:
    """Send delivery ``delivery_id`` if it is its turn, then the following ones of its queue
    while they are due and succeed, on one connection: claimed and recorded
    :data:`CLAIM_BATCH` at a time, posted one by one in order (a failure stops the batch; the
    rest wait for its retry). Returns how many attempts were made.

    ``now`` is for tests that move time; attempts are signed with the real clock.
    """
    made = 0
    current: int | None = delivery_id
    with httpx.Client(timeout=_timeout(), follow_redirects=False, trust_env=False) as client:
        while current is not None:
            if made >= DRAIN_BATCH:
                enqueue(Task.WEBHOOK_DELIVERY_SEND, current)
                break
            claims = _claim(current, now or timezone.now(), limit=CLAIM_BATCH)
            if not claims:
                break
            answers: list[Answer] = []
            started = time.monotonic()
            route = _route(claims)
            for claim in claims:
                answer = _post(client, claim, route)
                answers.append(answer)
                # Stop at a failure (order), and before the claims go stale.
                if not answer.ok or time.monotonic() - started > BATCH_SECONDS:
                    break
            made += len(answers)
            current = deliveries_finish(claims, answers, now or timezone.now())
    return made


def webhook_deliveries_relay(*, now: datetime | None = None) -> int:
    """Beat: hand out again what a lost message or a lost worker left behind: the head of
    every queue with a due delivery, and *sending* rows gone stale. Returns queues kicked."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        endpoint__enabled=True, state=State.PENDING, next_attempt_at__lte=now
    ) | WebhookDelivery.objects.filter(
        endpoint__enabled=True, state=State.SENDING, sending_since__lt=now - STALE_AFTER
    )
    heads = due.order_by().values("endpoint_id", "tenant_id").annotate(head=Min("id"))
    kicked = 0
    for row in heads:
        enqueue(Task.WEBHOOK_DELIVERY_SEND, row["head"])
        kicked += 1
    return kicked


def webhook_delivery_replay(
    *, delivery: WebhookDelivery, user: AnyUser, now: datetime | None = None
) -> bool:
    """*Replay*: send the delivery's event again (same ``webhook-id``, same body), with a
    fresh 24 h of retries. Returns ``False`` when it is being sent right now."""
    if not is_agency_admin(user=user, agency=delivery.endpoint.agency):
        raise PermissionDenied("Only agency admins replay webhook deliveries.")
    now = now or timezone.now()
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.state == State.SENDING:
            return False
        locked.state = State.PENDING
        locked.next_attempt_at = now
        locked.first_attempt_at = None
        locked.finished_at = None
        locked.save(update_fields=["state", "next_attempt_at", "first_attempt_at", "finished_at"])
        enqueue(Task.WEBHOOK_DELIVERY_SEND, locked.pk)
    delivery.refresh_from_db()
    return True
