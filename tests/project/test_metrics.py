"""``/metrics`` (issue 16): refused without its token, the families with the values of the rows,
and the same queries however many links."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from linker.celery import app
from linker.health import metrics as metrics_module
from linker.models import (
    LinkState,
    ProfileChange,
    RemoteDatabase,
    RequestLedger,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from tests.factories import finished_run, link_tenant, make_tenant

TOKEN = "metrics-token-for-the-tests-0123456789"
QUEUES = ("default", "writes", "notifications")


@pytest.fixture
def token(settings: Any) -> str:
    settings.LINKER_METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def empty_queues() -> Iterator[None]:
    _purge()
    yield
    _purge()


def _purge() -> None:
    with app.connection_for_write() as conn:
        for queue in QUEUES:
            conn.default_channel.queue_purge(queue)


def _scrape(client: Client) -> dict[str, list[Any]]:
    """The samples of every family, by family name."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response["Cache-Control"]
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def _value(samples: list[Any], name: str | None = None, **labels: str) -> float:
    found = [s.value for s in samples if s.labels == labels and (name is None or s.name == name)]
    assert len(found) == 1, (name, labels, samples)
    return float(found[0])


@pytest.mark.django_db
def test_without_a_configured_token_there_is_no_metrics_endpoint(client: Client) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN[:-1]}é",
        "Bearer \x00",
    ],
)
def test_a_scrape_without_the_token_is_refused(
    client: Client, token: str, header: str | None
) -> None:
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"linker_" not in response.content


@pytest.mark.django_db
def test_metrics_are_served_for_get_only(client: Client, token: str) -> None:
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405


@pytest.mark.django_db
def test_every_family_carries_the_values_of_the_rows(
    client: Client, token: str, empty_queues: None
) -> None:
    now = timezone.now()
    fresh = link_tenant(make_tenant(name="Fresh"))
    stale = link_tenant(make_tenant(name="Stale"))
    never = link_tenant(make_tenant(name="Never synced"))
    link_tenant(make_tenant(name="Reconnect"), state=LinkState.NEEDS_RECONNECT)
    link_tenant(make_tenant(name="Pending"), state=LinkState.PENDING)
    SyncSchedule.objects.create(link=fresh, last_success_at=now - timedelta(minutes=10))
    SyncSchedule.objects.create(link=stale, last_success_at=now - timedelta(days=2, hours=1))
    SyncSchedule.objects.create(link=never)

    SyncRun.objects.create(link=never, mode=SyncMode.FULL)  # queued
    SyncRun.objects.create(
        link=fresh, mode=SyncMode.INCREMENTAL, state=SyncState.RUNNING, heartbeat_at=now
    )
    done = finished_run(stale, ago_minutes=20, mode=SyncMode.FULL)
    failed = finished_run(stale, state=SyncState.FAILED, ago_minutes=5, mode=SyncMode.INCREMENTAL)
    SyncRun.objects.filter(pk__in=[done.pk, failed.pk]).update(heartbeat_at=now)
    finished_run(stale, ago_minutes=180)  # more than an hour ago: not counted
    finished_run(stale, state=SyncState.SKIPPED, ago_minutes=1, mode=SyncMode.INCREMENTAL)

    database = RemoteDatabase.objects.create(link=fresh, copernica_id=1, name="Customers")
    for state, age in (
        (ProfileChange.State.QUEUED, timedelta(minutes=7)),
        (ProfileChange.State.QUEUED, timedelta(minutes=1)),
        (ProfileChange.State.WAITING, timedelta(hours=3)),
        (ProfileChange.State.DONE, timedelta(days=9)),
    ):
        change = ProfileChange.objects.create(
            link=fresh, database=database, kind="update", copernica_profile_id=1, state=state
        )
        ProfileChange.objects.filter(pk=change.pk).update(created_at=now - age)

    today = timezone.localdate()
    RequestLedger.objects.create(
        link=fresh, account_key="a-1@api", day=today, requests=120, rate_limited=3, errors=1
    )
    RequestLedger.objects.create(link=stale, account_key="a-2@api", day=today, requests=40)
    RequestLedger.objects.create(
        link=stale, account_key="a-2@api", day=today - timedelta(days=1), requests=999
    )

    for _ in range(3):
        app.send_task("linker.notifications_scan")
    app.send_task("linker.profile_change_send", args=[1])

    samples = _scrape(client)

    links = samples["linker_links"]
    assert _value(links, state="active") == 3
    assert _value(links, state="needs_reconnect") == 1
    assert _value(links, state="pending") == 1
    assert _value(links, state="disconnected") == 0

    runs = samples["linker_sync_runs"]
    assert _value(runs, state="queued", mode="full") == 1
    assert _value(runs, state="running", mode="incremental") == 1
    assert _value(runs, state="running", mode="full") == 0
    finished = samples["linker_sync_runs_finished_1h"]
    assert _value(finished, state="succeeded", mode="full") == 1  # not the one of 3 h ago
    assert _value(finished, state="failed", mode="incremental") == 1
    assert _value(finished, state="skipped", mode="incremental") == 1

    lag = samples["linker_sync_lag_seconds"]
    assert _value(lag, "linker_sync_lag_seconds_bucket", le="900.0") == 1  # fresh
    assert _value(lag, "linker_sync_lag_seconds_bucket", le="172800.0") == 1
    assert _value(lag, "linker_sync_lag_seconds_bucket", le="604800.0") == 2  # stale too
    assert _value(lag, "linker_sync_lag_seconds_bucket", le="+Inf") == 2
    assert _value(lag, "linker_sync_lag_seconds_count") == 2
    expected_sum = (timedelta(minutes=10) + timedelta(days=2, hours=1)).total_seconds()
    assert _value(lag, "linker_sync_lag_seconds_sum") == pytest.approx(expected_sum, abs=30)
    assert _value(samples["linker_links_never_synced"]) == 1

    assert _value(samples["linker_celery_broker_up"]) == 1
    queues = samples["linker_celery_queue_length"]
    assert _value(queues, queue="notifications") == 3
    assert _value(queues, queue="writes") == 1
    assert _value(queues, queue="default") == 0

    outbox = samples["linker_outbox_changes"]
    assert _value(outbox, state="queued") == 2
    assert _value(outbox, state="waiting") == 1
    assert _value(outbox, state="sending") == 0
    oldest = samples["linker_outbox_oldest_age_seconds"]
    assert _value(oldest, state="queued") == pytest.approx(7 * 60, abs=30)
    assert _value(oldest, state="waiting") == pytest.approx(3 * 3600, abs=30)
    assert _value(oldest, state="sending") == 0

    requests = samples["linker_copernica_requests_today"]
    assert _value(requests, account="a-1@api") == 120
    assert _value(requests, account="a-2@api") == 40  # not yesterday's 999
    assert _value(samples["linker_copernica_rate_limited_today"], account="a-1@api") == 3
    assert _value(samples["linker_copernica_errors_today"], account="a-1@api") == 1
    # Accounts without a 429 or an error today have no series of those.
    assert [s.labels for s in samples["linker_copernica_rate_limited_today"]] == [
        {"account": "a-1@api"}
    ]
    print(f"families served: {sorted(samples)}")


@pytest.mark.django_db
def test_a_scrape_with_the_broker_down_still_serves_the_database(
    client: Client, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(metrics_module.current_app, "connection_for_read", refused)
    link_tenant(make_tenant())

    samples = _scrape(client)

    assert _value(samples["linker_celery_broker_up"]) == 0
    assert "linker_celery_queue_length" not in samples
    assert _value(samples["linker_links"], state="active") == 1


def _linked(count: int, day: date) -> None:
    now = timezone.now()
    for n in range(count):
        link = link_tenant(make_tenant(name=f"Tenant {n}"))
        SyncSchedule.objects.create(link=link, last_success_at=now - timedelta(minutes=n))
        finished_run(link, ago_minutes=n % 90)
        SyncRun.objects.create(link=link, mode=SyncMode.INCREMENTAL)
        RequestLedger.objects.create(link=link, account_key=f"acc-{n}", day=day, requests=n)


@pytest.mark.django_db
def test_a_scrape_makes_the_same_queries_at_3_and_30_links(client: Client, token: str) -> None:
    counts = {}
    for size in (3, 30):
        _linked(size, timezone.localdate())
        with CaptureQueriesContext(connection) as queries:
            samples = _scrape(client)
        counts[size] = len(queries)
        assert _value(samples["linker_sync_runs"], state="queued", mode="incremental") == size
        SyncRun.objects.all().delete()
        SyncSchedule.objects.all().delete()
        RequestLedger.objects.all().delete()

    print(f"queries per scrape: {counts}")
    assert counts[3] == counts[30] <= 8
