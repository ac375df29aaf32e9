"""Tell the admins when a link needs them: one email per cause, and a dashboard notice.

Recipients are the agency's admins and the tenant's own admins (the people who can reconnect).
Each chooses on the account settings page: an email for every notice, one daily digest
(``notifications_digest``, beat), or none. Links in the emails start at ``LINKER_BASE_URL``.

A cause is a link moving to *needs reconnect* (keyed by the moment it moved) or a streak of
failed sync runs (keyed by the streak's first failed run; runs that failed or were skipped only
because the link was not usable are no streak: the link's own notice covers them).
``Notification.cause_key`` is unique, so however often a cause is seen -- by the hook at the
state change, by the periodic scan, by two workers at once -- it is stored and mailed once.
A cause that went away is resolved, and a new one (the link breaks again later) gets a new key
and a new email.

Hooks: ``notify_link_needs_reconnect(link=...)`` after a link moved to *needs reconnect*,
``notify_sync_failed(run=...)`` after a run ended *failed*; ``notices_resolve(link=..., kind=...)``
in the transaction of the state change that ends a cause (a reconnect, a successful run), so the
notice is gone on the very next page; ``notifications_scan()`` (beat) catches whatever a hook
missed and resolves what was fixed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, NoticePreference, Role, User
from accounts.selectors import AnyUser, tenant_list
from linker.models import Link, LinkState, Notification, SyncRun, SyncState

logger = logging.getLogger(__name__)

Kind = Notification.Kind
_FINISHED = (SyncState.SUCCEEDED, SyncState.FAILED)
#: A run that failed only because the link was not usable: the link's notice covers it.
_NOT_USABLE = "LinkNotUsableError"
#: How often a digest reader hears from us at most (the beat looks every hour).
DIGEST_EVERY = timedelta(hours=24)


def _admin_memberships(*, agency_id: int | None, tenant_id: int) -> QuerySet[Membership]:
    """The agency's admins and the tenant's own admins, active ones only."""
    scope = Q(tenant_id=tenant_id, role=Role.TENANT_ADMIN)
    if agency_id is not None:
        scope |= Q(agency_id=agency_id, role=Role.AGENCY_ADMIN)
    return Membership.objects.filter(scope, user__is_active=True)


def _recipients(link: Link) -> list[str]:
    """Who gets an email for every notice about ``link``: its admins who chose so."""
    members = _admin_memberships(agency_id=link.tenant.agency_id, tenant_id=link.tenant_id)
    emails = members.filter(user__notice_emails=NoticePreference.EVERY).values_list(
        "user__email", flat=True
    )
    return sorted(set(emails))


def _base_url() -> str:
    return str(getattr(settings, "LINKER_BASE_URL", "") or "").rstrip("/")


def _tenant_url(tenant_id: int) -> str:
    return f"{_base_url()}{reverse('tenant_detail', kwargs={'tenant_id': tenant_id})}"


def _settings_note() -> str:
    return (
        f"Choose every notice, a daily digest or none: {_base_url()}{reverse('account_settings')}"
    )


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
                f"{notification.message}\n\nOpen the tenant: {_tenant_url(link.tenant_id)}\n\n"
                f"You get this email once for this problem. {_settings_note()}"
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


def _counted_runs(link: Link) -> QuerySet[SyncRun]:
    """Finished runs that say something about syncing, not just that the link was unusable."""
    return SyncRun.objects.filter(link=link, state__in=_FINISHED).exclude(error_class=_NOT_USABLE)


def _failing_streak_start(link: Link) -> SyncRun | None:
    """The first failed run after the last success, if the latest finished run failed."""
    finished = _counted_runs(link).order_by("-queued_at", "-id")
    latest = finished.first()
    if latest is None or latest.state != SyncState.FAILED:
        return None
    last_success = finished.filter(state=SyncState.SUCCEEDED).first()
    streak = _counted_runs(link).filter(state=SyncState.FAILED)
    if last_success is not None:
        streak = streak.filter(queued_at__gt=last_success.queued_at)
    return streak.order_by("queued_at", "id").first()


def notify_sync_failed(*, run: SyncRun) -> bool:
    """Call after ``run`` ended *failed* (linker.sync). Mails once per streak of failures."""
    link = Link.objects.select_related("tenant").get(pk=run.link_id)
    if link.state != LinkState.ACTIVE:
        return False  # one email per cause: the link's own notice says what to do
    start = _failing_streak_start(link)
    if start is None:
        return False
    latest = _counted_runs(link).filter(state=SyncState.FAILED).order_by("-id").first()
    reason = (latest.error_message if latest else "") or "the sync did not finish."
    return notification_raise(
        link=link,
        kind=Kind.SYNC_FAILING,
        cause_key=f"{Kind.SYNC_FAILING}:{link.pk}:{start.pk}",
        message=f"Syncing {link.tenant.name} keeps failing: {reason}",
    )


def notices_resolve(*, link: Link, kind: str) -> int:
    """Resolve the link's open notices of ``kind``, in the caller's transaction: call it where
    the state change that ends their cause is saved (a reconnect ends *needs reconnect*, a
    successful run ends *sync failing*), so no page shows a notice whose cause is gone."""
    return Notification.objects.filter(link_id=link.pk, kind=kind, resolved_at=None).update(
        resolved_at=timezone.now()
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
        .exclude(error_class=_NOT_USABLE)
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
        .exclude(error_class=_NOT_USABLE)
        .order_by("-queued_at", "-id")
        .values("state")[:1]
    )
    failing = Link.objects.filter(state=LinkState.ACTIVE).annotate(latest=latest_state)
    for link in failing.filter(latest=SyncState.FAILED):
        last = _counted_runs(link).filter(state=SyncState.FAILED).order_by("-id").first()
        if last is not None:
            raised += notify_sync_failed(run=last)
    notifications_resolve()
    for notification_id in Notification.objects.filter(emailed_at=None).values_list(
        "pk", flat=True
    ):
        _send(notification_id)
    return raised


def notification_list(*, user: AnyUser, limit: int = 10) -> QuerySet[Notification]:
    """Open notices about the tenants the user may see, newest first.

    A notice whose cause already ended (should a state change have skipped
    :func:`notices_resolve`) is not shown; the next scan resolves it.
    """
    latest_state = Subquery(
        SyncRun.objects.filter(link_id=OuterRef("link_id"), state__in=_FINISHED)
        .exclude(error_class=_NOT_USABLE)
        .order_by("-queued_at", "-id")
        .values("state")[:1]
    )
    return (
        Notification.objects.filter(resolved_at=None, tenant__in=tenant_list(user=user))
        .annotate(latest_run=latest_state)
        .exclude(Q(kind=Kind.NEEDS_RECONNECT) & ~Q(link__state=LinkState.NEEDS_RECONNECT))
        .exclude(kind=Kind.SYNC_FAILING, latest_run=SyncState.SUCCEEDED)
        .select_related("tenant")
        .order_by("-created_at", "-id")[:limit]
    )


# ---------------------------------------------------------------------------------- digest


def _digest_items(user: User, since: datetime | None) -> list[Notification]:
    """Notices raised since ``since`` about tenants ``user`` administers."""
    agencies = Membership.objects.filter(user=user, role=Role.AGENCY_ADMIN).values("agency_id")
    tenants = Membership.objects.filter(user=user, role=Role.TENANT_ADMIN).values("tenant_id")
    notices = Notification.objects.filter(
        Q(tenant__agency_id__in=agencies) | Q(tenant_id__in=tenants)
    )
    if since is not None:
        notices = notices.filter(created_at__gt=since)
    return list(notices.select_related("tenant").order_by("created_at", "id")[:200])


def notifications_digest(*, now: datetime | None = None) -> int:
    """Beat: one summary email per digest reader and day, listing the notices raised since
    their last one (nothing to say, no email). Returns how many emails were sent."""
    now = now or timezone.now()
    due = User.objects.filter(is_active=True, notice_emails=NoticePreference.DIGEST).filter(
        Q(notice_digest_at=None) | Q(notice_digest_at__lte=now - DIGEST_EVERY)
    )
    sent = 0
    for user_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            user = User.objects.select_for_update(skip_locked=True).filter(pk=user_id).first()
            if user is None:
                continue
            if user.notice_digest_at is not None and user.notice_digest_at > now - DIGEST_EVERY:
                continue  # another beat got there first
            since = user.notice_digest_at or now - DIGEST_EVERY
            items = _digest_items(user, since)
            if items:
                lines = [
                    f"- {n.tenant.name}: {n.message}"
                    f"{' (resolved)' if n.resolved_at else ''}\n  {_tenant_url(n.tenant_id)}"
                    for n in items
                ]
                body = (
                    "What needed attention since your last digest:\n\n"
                    + "\n".join(lines)
                    + f"\n\n{_settings_note()}"
                )
                count = len(items)
                subject = f"[Copernica Linker] Daily digest: {count} notice{'s' * (count != 1)}"
                try:
                    send_mail(subject, body, None, [user.email])
                except Exception:
                    logger.exception("Could not email the digest of user %s", user_id)
                    continue  # not marked: the next beat tries again
                sent += 1
            user.notice_digest_at = now
            user.save(update_fields=["notice_digest_at"])
    return sent
