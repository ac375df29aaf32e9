"""Tell an agency's admins when a link needs them: one email per cause, and a dashboard notice.

A cause is a link moving to *needs reconnect* (keyed by the moment it moved) or a streak of
failed sync runs (keyed by the streak's first failed run). ``Notification.cause_key`` is unique,
so however often a cause is seen -- by the hook at the state change, by the periodic scan, by
two workers at once -- it is stored and mailed once. A cause that went away is resolved, and a
new one (the link breaks again later) gets a new key and a new email.

Hooks: ``notify_link_needs_reconnect(link=...)`` after a link moved to *needs reconnect*,
``notify_sync_failed(run=...)`` after a run ended *failed*; ``notifications_scan()`` (beat)
catches whatever a hook missed and resolves what was fixed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from accounts.selectors import AnyUser, tenant_list
from linker.models import Link, LinkState, Notification, SyncRun, SyncState

logger = logging.getLogger(__name__)

Kind = Notification.Kind
_FINISHED = (SyncState.SUCCEEDED, SyncState.FAILED)


def _recipients(link: Link) -> list[str]:
    """The agency's admins; for a tenant without an agency, the tenant's admins."""
    tenant = link.tenant
    if tenant.agency_id is not None:
        members = Membership.objects.filter(agency_id=tenant.agency_id, role=Role.AGENCY_ADMIN)
    else:
        members = Membership.objects.filter(tenant=tenant, role=Role.TENANT_ADMIN)
    return sorted(set(members.filter(user__is_active=True).values_list("user__email", flat=True)))


def _tenant_url(link: Link) -> str:
    path = reverse("tenant_detail", kwargs={"tenant_id": link.tenant_id})
    return f"{getattr(settings, 'LINKER_BASE_URL', '').rstrip('/')}{path}"


def _send(notification_id: int) -> None:
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .select_related("link__tenant")
            .filter(pk=notification_id, emailed_at=None)
            .first()
        )
        if notification is None:
            return
        link = notification.link
        recipients = _recipients(link)
        if recipients:
            subject = f"[Copernica Linker] {link.tenant.name}: {notification.get_kind_display()}"
            body = (
                f"{notification.message}\n\nOpen the tenant: {_tenant_url(link)}\n\n"
                "You get this email once for this problem."
            )
            try:
                send_mail(subject, body, None, recipients)
            except Exception:
                # Not marked emailed: the next scan tries again.
                logger.exception("Could not email notification %s", notification_id)
                return
        notification.emailed_at = timezone.now()
        notification.emailed_to = len(recipients)
        notification.save(update_fields=["emailed_at", "emailed_to"])


def notification_raise(*, link: Link, kind: str, cause_key: str, message: str) -> bool:
    """Record a cause once and email the admins after the commit; False if already known."""
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                agency_id=link.tenant.agency_id,
                tenant_id=link.tenant_id,
                link=link,
                kind=kind,
                cause_key=cause_key[:200],
                message=message[:500],
            )
    except IntegrityError:
        return False
    notification_id = notification.pk
    transaction.on_commit(lambda: _send(notification_id))
    return True


def _reconnect_key(link: Link) -> str:
    since = link.state_changed_at.isoformat() if link.state_changed_at else "unknown"
    return f"{Kind.NEEDS_RECONNECT}:{link.pk}:{since}"


def notify_link_needs_reconnect(*, link: Link) -> bool:
    """Call after ``link`` moved to *needs reconnect* (linker.linking.client)."""
    link = Link.objects.select_related("tenant").get(pk=link.pk)
    if link.state != LinkState.NEEDS_RECONNECT:
        return False
    return notification_raise(
        link=link,
        kind=Kind.NEEDS_RECONNECT,
        cause_key=_reconnect_key(link),
        message=(
            f"{link.tenant.name} needs to reconnect its Copernica account "
            f"{link.copernica_account_name or link.copernica_account_id}: "
            f"{link.state_reason or 'Copernica rejected the stored token.'} "
            "Syncs and profile changes wait until someone reconnects."
        ),
    )


def _failing_streak_start(link: Link) -> SyncRun | None:
    """The first failed run after the last success, if the latest finished run failed."""
    finished = SyncRun.objects.filter(link=link, state__in=_FINISHED).order_by("-queued_at", "-id")
    latest = finished.first()
    if latest is None or latest.state != SyncState.FAILED:
        return None
    last_success = finished.filter(state=SyncState.SUCCEEDED).first()
    streak = SyncRun.objects.filter(link=link, state=SyncState.FAILED)
    if last_success is not None:
        streak = streak.filter(queued_at__gt=last_success.queued_at)
    return streak.order_by("queued_at", "id").first()


def notify_sync_failed(*, run: SyncRun) -> bool:
    """Call after ``run`` ended *failed* (linker.sync). Mails once per streak of failures."""
    link = Link.objects.select_related("tenant").get(pk=run.link_id)
    start = _failing_streak_start(link)
    if start is None:
        return False
    latest = SyncRun.objects.filter(link=link, state=SyncState.FAILED).order_by("-id").first()
    reason = (latest.error_message if latest else "") or "the sync did not finish."
    return notification_raise(
        link=link,
        kind=Kind.SYNC_FAILING,
        cause_key=f"{Kind.SYNC_FAILING}:{link.pk}:{start.pk}",
        message=f"Syncing {link.tenant.name} keeps failing: {reason}",
    )


def notifications_resolve() -> int:
    """Close notices whose cause is gone (reconnected, a later sync succeeded, disconnected)."""
    now = timezone.now()
    open_notices = Notification.objects.filter(resolved_at=None)
    resolved = (
        open_notices.filter(kind=Kind.NEEDS_RECONNECT)
        .exclude(link__state=LinkState.NEEDS_RECONNECT)
        .update(resolved_at=now)
    )
    latest_state = Subquery(
        SyncRun.objects.filter(link_id=OuterRef("link_id"), state__in=_FINISHED)
        .order_by("-queued_at", "-id")
        .values("state")[:1]
    )
    failing = open_notices.filter(kind=Kind.SYNC_FAILING).annotate(latest=latest_state)
    resolved += Notification.objects.filter(
        pk__in=failing.exclude(latest=SyncState.FAILED, link__state=LinkState.ACTIVE).values("pk")
    ).update(resolved_at=now)
    return resolved


def notifications_scan() -> int:
    """Beat: raise a notice for every cause not announced yet, resolve fixed ones, and retry
    emails that could not be sent. Returns how many new notices were raised."""
    raised = 0
    for link in Link.objects.filter(state=LinkState.NEEDS_RECONNECT).select_related("tenant"):
        if not Notification.objects.filter(cause_key=_reconnect_key(link)).exists():
            raised += notify_link_needs_reconnect(link=link)
    latest_state = Subquery(
        SyncRun.objects.filter(link_id=OuterRef("pk"), state__in=_FINISHED)
        .order_by("-queued_at", "-id")
        .values("state")[:1]
    )
    failing = Link.objects.filter(state=LinkState.ACTIVE).annotate(latest=latest_state)
    for link in failing.filter(latest=SyncState.FAILED):
        last = SyncRun.objects.filter(link=link, state=SyncState.FAILED).order_by("-id").first()
        if last is not None:
            raised += notify_sync_failed(run=last)
    notifications_resolve()
    for notification_id in Notification.objects.filter(emailed_at=None).values_list(
        "pk", flat=True
    ):
        _send(notification_id)
    return raised


def notification_list(*, user: AnyUser, limit: int = 10) -> QuerySet[Notification]:
    """Open notices about the tenants the user may see, newest first."""
    return (
        Notification.objects.filter(resolved_at=None, tenant__in=tenant_list(user=user))
        .select_related("tenant")
        .order_by("-created_at", "-id")[:limit]
    )
