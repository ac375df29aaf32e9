"""Notices for agency admins: one email per cause, shown on the dashboard until fixed."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from linker.models import LinkState, Notification, SyncState
from linker.notifications.services import (
    notifications_scan,
    notify_link_needs_reconnect,
    notify_sync_failed,
)
from tests.conftest import World
from tests.factories import finished_run, link_tenant


def _break(link, when):  # type: ignore[no-untyped-def]
    link.state = LinkState.NEEDS_RECONNECT
    link.state_changed_at = when
    link.state_reason = "Copernica rejected the stored API token."
    link.save()


def test_needs_reconnect_mails_the_agency_and_tenant_admins_once(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    link = link_tenant(world.tenant_a1)
    _break(link, timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_link_needs_reconnect(link=link) is True
        assert notify_link_needs_reconnect(link=link) is False
        notifications_scan()
        notifications_scan()
    assert [sorted(m.to) for m in mail.outbox] == [
        sorted([world.agency_admin_a.email, world.tenant_admin_a1.email])
    ]
    assert "Alpha Bikes" in mail.outbox[0].subject
    assert f"/tenants/{world.tenant_a1.pk}/" in mail.outbox[0].body
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home")).content.decode()
    assert 'data-testid="notices"' in page
    assert "needs to reconnect" in page


def test_fixed_cause_is_resolved_and_a_new_break_mails_again(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    link = link_tenant(world.tenant_a1)
    _break(link, timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        notifications_scan()
    link.state = LinkState.ACTIVE
    link.save()
    with django_capture_on_commit_callbacks(execute=True):
        notifications_scan()
    assert Notification.objects.get().resolved_at is not None
    client = Client()
    client.force_login(world.staff_a)
    assert 'data-testid="notices"' not in client.get(reverse("home")).content.decode()
    _break(link, timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        notifications_scan()
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(resolved_at=None).count() == 1


def test_failing_syncs_mail_once_per_streak(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    link = link_tenant(world.tenant_a1)
    finished_run(link, ago_minutes=120)
    first = finished_run(link, state=SyncState.FAILED, ago_minutes=60, error_message="HTTP 503")
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_sync_failed(run=first) is True
        second = finished_run(link, state=SyncState.FAILED, ago_minutes=5, error_message="HTTP 503")
        assert notify_sync_failed(run=second) is False
        notifications_scan()
    assert len(mail.outbox) == 1
    assert "keeps failing" in mail.outbox[0].body
    assert "HTTP 503" in mail.outbox[0].body
    finished_run(link, ago_minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        notifications_scan()
    assert Notification.objects.get().resolved_at is not None


def test_notices_of_another_agency_are_not_shown(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    link = link_tenant(world.tenant_b1)
    _break(link, timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        notifications_scan()
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("home")).content.decode()
    assert world.tenant_b1.name not in page
    assert Notification.objects.get().agency == world.agency_b
    assert mail.outbox == []  # agency B has no admin to mail, and agency A is never told
