"""The tenant page: sync history, live progress endpoint, chart, ledger, sync now, schedule."""

from __future__ import annotations

import zoneinfo

from django.test import Client, override_settings
from django.urls import reverse

from linker.models import SyncRun, SyncSchedule, SyncState
from tests.factories import finished_run, link_tenant
from tests.pages.conftest import Mirror


def _url(mirror: Mirror, name: str = "tenant_detail") -> str:
    return reverse(name, kwargs={"tenant_id": mirror.world.tenant_a1.pk})


def test_tenant_page_shows_history_chart_ledger_and_schedule(mirror: Mirror) -> None:
    """Each in its tab (issue 14): the history and charts and schedule under Syncs, the
    ledger under Requests."""
    page = mirror.staff.get(_url(mirror)).content.decode()
    assert "Browse profiles" in page
    syncs = mirror.staff.get(_url(mirror), {"tab": "syncs"}).content.decode()
    assert syncs.count('<span class="badge run-succeeded">') == 2 + 1  # + the top's last run
    assert "in sync: 120 / 120" in syncs
    assert syncs.count("<rect ") == 2 * 2  # a bar per run in each chart
    assert "Profiles fetched per sync" in syncs
    assert "Time per sync" in syncs
    assert 'id="schedule"' in syncs
    requests = mirror.staff.get(_url(mirror), {"tab": "requests"}).content.decode()
    assert ">321<" in requests
    assert ">1,500<" in requests


def test_viewer_sees_the_page_without_staff_controls(mirror: Mirror) -> None:
    page = mirror.viewer.get(_url(mirror), {"tab": "syncs"}).content.decode()
    assert "Recent syncs" in page
    assert "Sync now" not in page
    assert 'id="schedule"' not in page


def test_progress_endpoint_reports_pages_rate_and_time_left(mirror: Mirror) -> None:
    from datetime import timedelta

    from django.utils import timezone

    SyncRun.objects.create(
        link=mirror.link,
        mode="full",
        state=SyncState.RUNNING,
        started_at=timezone.now() - timedelta(seconds=10),
        pages=3,
        fetched=30,
        checkpoint={"phase": "profiles"},
    )
    data = mirror.staff.get(_url(mirror, "sync_progress")).json()
    assert data["active"] is True
    assert data["pages"] == 3
    assert data["fetched"] == 30
    assert data["expected"] == 120  # Copernica's count at the last full run
    assert data["percent"] == 25.0
    assert 2.5 <= data["rate"] <= 3.1
    assert 25 <= data["eta_seconds"] <= 40
    page = mirror.staff.get(_url(mirror)).content.decode()
    assert 'data-active="1"' in page
    assert "30 profiles of about 120" in page


def test_progress_endpoint_ignores_another_links_run(mirror: Mirror) -> None:
    other = finished_run(link_tenant(mirror.world.tenant_b1))
    data = mirror.staff.get(_url(mirror, "sync_progress"), {"run": other.pk}).json()
    assert data == {"active": False}


def test_sync_now_queues_one_incremental_run(mirror: Mirror) -> None:
    response = mirror.staff.post(_url(mirror, "sync_now"), follow=True)
    assert "Incremental sync started." in response.content.decode()
    again = mirror.staff.post(_url(mirror, "sync_now"), follow=True)
    assert "already running" in again.content.decode()
    assert SyncRun.objects.filter(link=mirror.link, state="queued").count() == 1


def test_viewer_cannot_sync_now(mirror: Mirror) -> None:
    response = mirror.viewer.post(_url(mirror, "sync_now"))
    assert response.status_code == 403
    assert not SyncRun.objects.filter(state="queued").exists()


def test_schedule_override_is_saved(mirror: Mirror) -> None:
    response = mirror.staff.post(
        _url(mirror, "sync_schedule"),
        {"enabled": "on", "incremental_minutes": "60", "full_hour": "4"},
        follow=True,
    )
    assert "every 60 minutes" in response.content.decode()
    schedule = SyncSchedule.objects.get(link=mirror.link)
    assert (schedule.enabled, schedule.incremental_minutes, schedule.full_hour) == (True, 60, 4)
    mirror.staff.post(
        _url(mirror, "sync_schedule"), {"incremental_minutes": "60", "full_hour": "4"}
    )
    schedule.refresh_from_db()
    assert schedule.enabled is False


def test_bad_schedule_is_refused_with_a_message(mirror: Mirror) -> None:
    response = mirror.staff.post(
        _url(mirror, "sync_schedule"),
        {"enabled": "on", "incremental_minutes": "1", "full_hour": "30"},
        follow=True,
    )
    assert "Schedule not saved" in response.content.decode()
    assert response.status_code == 400
    schedule = SyncSchedule.objects.get(link=mirror.link)
    assert (schedule.incremental_minutes, schedule.full_hour) == (15, 2)


def test_viewer_cannot_change_the_schedule(mirror: Mirror) -> None:
    response = mirror.viewer.post(
        _url(mirror, "sync_schedule"), {"incremental_minutes": "5", "full_hour": "1"}
    )
    assert response.status_code == 403
    assert SyncSchedule.objects.get(link=mirror.link).incremental_minutes == 15


def test_ledger_export_lists_requests_per_day(mirror: Mirror) -> None:
    response = mirror.staff.get(_url(mirror, "request_ledger_export"))
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0] == "day,requests,errors,rate_limited"
    assert lines[1].endswith(",321,2,0")
    assert lines[2].endswith(",1500,0,0")
    assert len(lines) == 91


def test_times_show_in_the_users_time_zone(mirror: Mirror, settings) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from linker.models import LinkEvent

    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "linker.middleware.UserTimeZoneMiddleware"]
    event = LinkEvent.objects.create(link=mirror.link, kind="verified", message="probe")
    user = mirror.world.staff_a
    user.time_zone = "Asia/Tokyo"
    user.save()
    client = Client()
    client.force_login(user)
    with override_settings(MIDDLEWARE=settings.MIDDLEWARE):
        page = client.get(_url(mirror), {"tab": "history"}).content.decode()
    tokyo = timezone.localtime(event.created_at, timezone=zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert f'<time datetime="{tokyo:%Y-%m-%dT%H:%M}' in page
    assert "+09:00" in page
