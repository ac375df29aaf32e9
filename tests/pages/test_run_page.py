"""The sync run page (issue 14: "no page per sync run (its steps, pages, retries, errors)"):
what the run did, when, its requests, its errors with Copernica's message, its drift; linked
from the history and from the notices."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from linker.models import (
    Notification,
    RemoteCollection,
    RemoteDatabase,
    RequestLogEntry,
    SyncRun,
    SyncState,
)
from tests.conftest import World
from tests.factories import finished_run, link_tenant


def _run_url(world: World, run: SyncRun) -> str:
    return reverse("sync_run_detail", kwargs={"tenant_id": world.tenant_a1.pk, "run_id": run.pk})


def _failed_full_run(world: World) -> SyncRun:
    """A full run that read the schema, two pages (one after a 429 and a retry), failed on a
    refused request, and whose reconcile had already decided one source."""
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=7, name="Customers")
    collection = RemoteCollection.objects.create(
        link=link, database=database, copernica_id=8, name="Orders"
    )
    run = finished_run(
        link,
        state=SyncState.FAILED,
        trigger="schedule",
        pages=2,
        requests=6,
        fetched=2000,
        updated_count=1500,
        created_count=3,
        chunks=2,
        attempts=2,
        failures=1,
        error_class="BadRequestError",
        error_message="Copernica refused the request: Invalid parameter 'fields'",
        checkpoint={
            "phase": "reconcile",
            "reconcile": {
                "outcomes": {
                    f"profiles:{database.pk}": {
                        "removed": 2,
                        "pending": 0,
                        "remote": 2998,
                        "local": 2998,
                        "note": "",
                    },
                    f"subprofiles:{collection.pk}": {
                        "removed": 0,
                        "pending": 40,
                        "remote": 100,
                        "local": 140,
                        "note": "40 missing waits for a second full run.",
                    },
                }
            },
        },
    )
    assert run.started_at is not None
    calls = [
        ("GET", "/v4/databases", 200, 1, 120),
        ("GET", "/v4/database/7/profiles", 429, 1, 30),
        ("GET", "/v4/database/7/profiles", 200, 2, 900),
        ("GET", "/v4/database/7/profiles", 200, 1, 850),
        ("GET", "/v4/collection/8/subprofiles", None, 1, 30000),
        ("GET", "/v4/database/7/profileids", 400, 1, 40),
    ]
    RequestLogEntry.objects.bulk_create(
        RequestLogEntry(
            link=link,
            at=run.started_at + timedelta(seconds=i + 1),
            method=method,
            path=path,
            status=status,
            duration_ms=ms,
            attempt=attempt,
        )
        for i, (method, path, status, attempt, ms) in enumerate(calls)
    )
    # Another tenant's request in the same window: never on this page.
    other = link_tenant(world.tenant_a2)
    RequestLogEntry.objects.create(
        link=other, at=run.started_at + timedelta(seconds=2), method="GET",
        path="/v4/database/99/profiles", status=200, duration_ms=1,
    )  # fmt: skip
    return run


def test_run_page_shows_what_the_run_did_its_requests_errors_and_drift(world: World) -> None:
    run = _failed_full_run(world)
    staff = Client()
    staff.force_login(world.staff_a)
    response = staff.get(_run_url(world, run))
    assert response.status_code == 200
    page = response.content.decode()
    # Mode, trigger, the counts.
    assert "Full sync of" in page
    assert "(on schedule)" in page
    assert "<dt>Pages</dt><dd>2</dd>" in page
    assert "2,000 fetched: 3 new, 1,500 changed, 0 removed" in page
    # Timings.
    assert "(took 42 s)" in page
    # Requests, retries, 429s, failures: from the request log of this run's window.
    assert '6 <span class="muted">(1 retry, 1 rate limited, 3 without success)</span>' in page
    assert "GET /v4/database/{id}/profiles" in page
    assert "/v4/database/99/profiles" not in page
    problems = page[page.index('data-testid="run-problems"') :]
    assert problems.count("<tr>") == 1 + 4  # the header, then 429, retry, no answer, 400
    assert "no answer" in problems
    # The error with Copernica's message.
    assert "Why it failed" in page
    assert "Invalid parameter &#x27;fields&#x27;" in page
    # Drift per source, named.
    drift = page[page.index('data-testid="run-drift"') :]
    assert "Customers (profiles)" in drift
    assert "Customers: Orders (subprofiles)" in drift
    assert "40 missing waits for a second full run." in drift
    assert drift.index("in sync") < drift.index("differs")


def test_run_page_is_linked_from_the_history_and_the_notices(world: World) -> None:
    run = _failed_full_run(world)
    Notification.objects.create(
        agency=world.agency_a,
        tenant=world.tenant_a1,
        link=run.link,
        kind=Notification.Kind.SYNC_FAILING,
        cause_key=f"sync_failing:{run.link_id}:x",
        message="Syncing Alpha Bikes keeps failing.",
    )
    staff = Client()
    staff.force_login(world.staff_a)
    url = _run_url(world, run)
    syncs = staff.get(
        reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk}), {"tab": "syncs"}
    ).content.decode()
    history = syncs[syncs.index('data-testid="sync-history"') :]
    assert f'<a href="{url}" class="stretched">' in history
    notice = syncs[syncs.index('data-testid="notice"') :]
    assert f'<a href="{url}">See the failed run</a>' in notice[: notice.index("</p>")]
    dashboard = staff.get(reverse("home")).content.decode()
    notices = dashboard[dashboard.index('data-testid="notices"') :]
    assert f'<a href="{url}">See the failed run</a>' in notices


def test_a_running_run_says_what_it_is_doing(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    run = SyncRun.objects.create(
        link=link,
        mode="incremental",
        state=SyncState.RUNNING,
        started_at=timezone.now() - timedelta(seconds=5),
        heartbeat_at=timezone.now(),
        checkpoint={"phase": "profiles"},
    )
    viewer = Client()
    viewer.force_login(world.viewer_a1)
    page = viewer.get(_run_url(world, run)).content.decode()
    assert "Copying profiles and subprofiles" in page
    assert "Running for" in page
    assert "run-drift" not in page


def test_another_tenants_run_is_not_found_through_this_tenant(world: World) -> None:
    """The run id must belong to the tenant in the URL, which the user may see."""
    own = link_tenant(world.tenant_a1)
    finished_run(own)
    foreign = finished_run(link_tenant(world.tenant_b1))
    staff = Client()
    staff.force_login(world.staff_a)
    url = reverse("sync_run_detail", kwargs={"tenant_id": world.tenant_a1.pk, "run_id": foreign.pk})
    assert staff.get(url).status_code == 404
