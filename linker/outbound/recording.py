"""Recording a batch of webhook attempts (see :mod:`linker.outbound.sending`): the deliveries
locked again and their answers written in one transaction (rows in one statement by
``rows_update``, attempts in one insert), the endpoint's failing streak (24 h of it disables
the endpoint and emails its agency's admins), retries scheduled with backoff and the next
delivery of the queue found.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from accounts.models import Membership, Role
from linker.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from linker.platform.delivery import Task, enqueue
from linker.platform.row_updates import rows_update

logger = logging.getLogger(__name__)

State = WebhookDelivery.State
#: Retries stop this long after a delivery's first attempt; an endpoint failing this long is
#: disabled.
RETRY_WINDOW = timedelta(hours=24)
#: The longest wait between two attempts.
RETRY_MAX_SECONDS = 3600.0


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**(n-1)``, capped."""
    base = float(settings.LINKER_WEBHOOKS_RETRY_BASE_SECONDS)
    ceiling = min(RETRY_MAX_SECONDS, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    sending_since: datetime
    attempt: int
    # As it was before the claim: put back if the delivery is not attempted after all.
    first_attempt_at: datetime | None
    url: str
    msg_id: str
    body: str
    secret: str | None


@dataclass(frozen=True)
class Answer:
    ok: bool
    status_code: int | None
    duration_ms: int
    error: str
    excerpt: str


def _next_of_queue(delivery: WebhookDelivery) -> tuple[int, datetime] | None:
    row = (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            tenant_id=delivery.tenant_id,  # type: ignore[misc]  # None matches IS NULL
            state=State.PENDING,
        )
        .order_by("id")
        .values_list("id", "next_attempt_at")
        .first()
    )
    return (row[0], row[1]) if row else None


def _admins_tell(endpoint: WebhookEndpoint) -> None:
    emails = list(
        Membership.objects.filter(
            agency_id=endpoint.agency_id, role=Role.AGENCY_ADMIN, user__is_active=True
        ).values_list("user__email", flat=True)
    )
    if not emails:
        return
    base = str(settings.LINKER_BASE_URL).rstrip("/")
    page = base + reverse("webhooks", kwargs={"agency_id": endpoint.agency_id})
    subject = f"Webhook endpoint disabled: {endpoint.url}"[:200]
    text = (
        f"Every attempt to deliver events to {endpoint.url} has failed for 24 hours, so we "
        "disabled the endpoint. Events are kept and sent again, in order, once you enable it "
        f"on the Webhooks page:\n\n{page}\n\nThe last error: {endpoint.disabled_reason}\n"
    )

    def send() -> None:
        try:
            send_mail(subject, text, None, emails)
        except Exception:
            logger.exception("Could not email the admins of agency %s", endpoint.agency_id)

    transaction.on_commit(send)


_RECORDED = (
    "state",
    "attempts",
    "next_attempt_at",
    "sending_since",
    "first_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_duration_ms",
    "last_error",
    "finished_at",
)


def deliveries_finish(claims: list[Claim], answers: list[Answer], now: datetime) -> int | None:
    """Record the attempts (``answers`` in the order of ``claims``; claims past the answers
    were not attempted and go back to *pending*). Returns the id of the next delivery of the
    queue to send now, if any."""
    with transaction.atomic():
        rows = {
            row.pk: row
            for row in WebhookDelivery.objects.select_for_update(of=("self",)).filter(
                pk__in=[c.delivery_id for c in claims]
            )
        }
        head = rows.get(claims[0].delivery_id)
        if head is None:
            return None
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=head.endpoint_id)
        changed: list[WebhookDelivery] = []
        attempts: list[WebhookAttempt] = []
        moves_on = True
        last_failure: Answer | None = None
        for index, claim in enumerate(claims):
            row = rows.get(claim.delivery_id)
            ours = row is not None and row.state == State.SENDING
            if row is None or not ours or row.sending_since != claim.sending_since:
                moves_on = False  # taken back by the relay; the attempt is its business now
                continue
            changed.append(row)
            row.sending_since = None
            if index >= len(answers):
                row.state = State.PENDING  # not attempted after all
                row.attempts = claim.attempt - 1
                row.first_attempt_at = claim.first_attempt_at
                continue
            answer = answers[index]
            attempts.append(
                WebhookAttempt(
                    delivery=row,
                    number=claim.attempt,
                    at=now,
                    succeeded=answer.ok,
                    status_code=answer.status_code,
                    duration_ms=answer.duration_ms,
                    error=answer.error,
                    response_excerpt=answer.excerpt,
                )
            )
            row.last_attempt_at = now
            row.last_status_code = answer.status_code
            row.last_duration_ms = answer.duration_ms
            row.last_error = answer.error
            if answer.ok:
                row.state = State.SUCCEEDED
                row.finished_at = now
                continue
            last_failure = answer
            if now - (row.first_attempt_at or now) >= RETRY_WINDOW:
                row.state = State.FAILED
                row.finished_at = now
            else:
                moves_on = False
                delay = retry_delay(row.attempts)
                row.state = State.PENDING
                row.next_attempt_at = now + timedelta(seconds=delay)
                enqueue(Task.WEBHOOK_DELIVERY_SEND, row.pk, countdown=delay)
        rows_update(changed, _RECORDED)
        WebhookAttempt.objects.bulk_create(attempts)
        if last_failure is not None:
            _failure_count(endpoint, last_failure, now)
        elif answers and endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since"])
        if not moves_on or not endpoint.enabled:
            return None
        following = _next_of_queue(head)
        if following is None:
            return None
        next_id, due = following
        if due <= now:
            return next_id
        enqueue(Task.WEBHOOK_DELIVERY_SEND, next_id, countdown=(due - now).total_seconds())
        return None


def _failure_count(endpoint: WebhookEndpoint, answer: Answer, now: datetime) -> None:
    """Start or continue the endpoint's failing streak; 24 h of it disables the endpoint."""
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since"])
        return
    if endpoint.enabled and now - endpoint.failing_since >= RETRY_WINDOW:
        endpoint.enabled = False
        endpoint.disabled_reason = (
            f"Disabled after 24 hours of failed deliveries. Last error: {answer.error}"
        )[:300]
        endpoint.save(update_fields=["enabled", "disabled_reason"])
        logger.warning("Webhook endpoint %s disabled after 24 h of failures", endpoint.pk)
        _admins_tell(endpoint)
