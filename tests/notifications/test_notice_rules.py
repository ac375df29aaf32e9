"""Who hears about a notice and when (issue 12, problems 4 and 5): resolved with the state
change that ends its cause, one email per cause, agency and tenant admins by their preference,
a daily digest, links from ``LINKER_BASE_URL``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import NoticePreference, Role
from linker.linking.client import link_mark_needs_reconnect
from linker.linking.identity import Endpoints, Identity
from linker.linking.links import link_store_token
from linker.models import Link, LinkState, Notification, SyncState
from linker.notifications.services import (
    notification_list,
    notifications_digest,
    notifications_scan,
    notify_sync_failed,
)
from tests.conftest import World
from tests.factories import finished_run, link_tenant, make_member

pytestmark = pytest.mark.django_db(transaction=True)

Kind = Notification.Kind


def _break(link: Link) -> None:
    assert link_mark_needs_reconnect(link=link, reason="Copernica rejected the stored token.")


def _reconnect(link: Link) -> Link:
    return link_store_token(
        tenant=link.tenant,
        api_token="a-new-token",
        identity=Identity(account_id=link.copernica_account_id, name="Alpha", company=""),
        endpoints=Endpoints(auth_url="", api_url="", rest_url=""),
        application=None,
        user=None,
        how="through Copernica's consent page",
    )


def test_reconnect_resolves_the_needs_reconnect_notice_at_once(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    _break(link)
    notice = Notification.objects.get(kind=Kind.NEEDS_RECONNECT)

    _reconnect(link)  # no scan after it

    notice.refresh_from_db()
    assert notice.resolved_at is not None
    client = Client()
    client.force_login(world.staff_a)
    page = client.get(reverse("tenant_detail", args=[world.tenant_a1.pk])).content.decode()
    assert "needs to reconnect" not in page
    assert 'data-testid="notices"' not in client.get(reverse("home")).content.decode()


def test_a_notice_whose_cause_ended_is_not_shown_even_before_the_scan(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    finished_run(link, state=SyncState.FAILED, ago_minutes=30, error_message="HTTP 503")
    assert notify_sync_failed(run=link.sync_runs.get()) is True  # type: ignore[attr-defined]
    finished_run(link, state=SyncState.SUCCEEDED, ago_minutes=1)  # no hook resolved it

    assert list(notification_list(user=world.staff_a)) == []


def test_an_unusable_link_gets_one_notice_not_also_a_failing_sync(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    _break(link)
    for minutes in (30, 20, 10):
        run = finished_run(
            link,
            state=SyncState.FAILED,
            ago_minutes=minutes,
            error_class="LinkNotUsableError",
            error_message="The Copernica link of Alpha Bikes is needs reconnect.",
        )
        notify_sync_failed(run=run)
    notifications_scan()
    _reconnect(link)
    notifications_scan()  # the link is active again; its unusable runs are no failing streak

    assert list(Notification.objects.values_list("kind", flat=True)) == [Kind.NEEDS_RECONNECT]
    assert len(mail.outbox) == 1
    assert "Needs reconnect" in mail.outbox[0].subject


def test_agency_and_tenant_admins_are_mailed_by_their_preference(world: World) -> None:
    quiet = make_member(role=Role.TENANT_ADMIN, tenant=world.tenant_a1)
    quiet.notice_emails = NoticePreference.NONE
    quiet.save()
    digest = make_member(role=Role.AGENCY_ADMIN, agency=world.agency_a)
    digest.notice_emails = NoticePreference.DIGEST
    digest.save()
    link = link_tenant(world.tenant_a1)

    _break(link)

    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted(
        [world.agency_admin_a.email, world.tenant_admin_a1.email]
    )
    assert Notification.objects.get().emailed_to == 2


def test_links_in_the_email_start_at_the_base_url(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LINKER_BASE_URL = "http://demo.example:8123/"
    link = link_tenant(world.tenant_a1)

    _break(link)

    body = mail.outbox[0].body
    assert f"http://demo.example:8123/tenants/{world.tenant_a1.pk}/" in body
    assert "http://demo.example:8123/accounts/settings/" in body


def test_the_digest_mails_one_summary_per_person_per_day(world: World) -> None:
    reader = world.tenant_admin_a1
    reader.notice_emails = NoticePreference.DIGEST
    reader.save()
    _break(link_tenant(world.tenant_a1))
    _break(link_tenant(world.tenant_a2))  # not the reader's tenant
    mail.outbox.clear()
    now = timezone.now()

    assert notifications_digest(now=now) == 1
    assert notifications_digest(now=now + timedelta(hours=2)) == 0

    [email] = mail.outbox
    assert email.to == [reader.email]
    assert "Alpha Bikes" in email.body
    assert "Alpha Cars" not in email.body
    assert "Daily digest: 1 notice" in email.subject
    # The next day: only what was raised since the last one, and no email when nothing was.
    link = Link.objects.get(tenant=world.tenant_a1)
    Link.objects.filter(pk=link.pk).update(state=LinkState.ACTIVE)
    link.refresh_from_db()
    _break(link)
    mail.outbox.clear()
    assert notifications_digest(now=now + timedelta(hours=25)) == 1
    assert "Daily digest: 1 notice" in mail.outbox[0].subject
    assert notifications_digest(now=now + timedelta(hours=50)) == 0
