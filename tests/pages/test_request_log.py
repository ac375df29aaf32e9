"""The request log per link (issue 14: "only daily request counts, no log of the requests
themselves"): each attempt of a metered session, without secrets, kept 14 days, filterable on
the tenant page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api_client import RequestRecord
from linker.linking.request_log import RequestLogBuffer, request_log_prune
from linker.models import RequestLedger, RequestLogEntry
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.conftest import World
from tests.factories import link_tenant
from tests.linked_accounts import Linked


@pytest.mark.django_db(transaction=True)
def test_each_attempt_of_a_sync_is_logged_once_with_its_retry_and_429(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=30)
    profiles = f"/v4/database/{account.account.database_id}/profiles"
    account.sandbox.fault(path=profiles, status=429, retry_after=1, count=1)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"

    entries = list(RequestLogEntry.objects.filter(link=account.link).order_by("at", "id"))
    ledger = RequestLedger.objects.get(link=account.link)
    print(f"request log: {len(entries)} entries, ledger: {ledger.requests} requests")
    assert len(entries) == ledger.requests  # one entry per attempt the ledger counted
    limited = [e for e in entries if e.status == 429]
    assert len(limited) == 1
    assert limited[0].path == profiles
    retried = [e for e in entries if e.attempt > 1]
    assert [(e.path, e.status) for e in retried] == [(profiles, 200)]
    # The reads, and the one POST of the JWT exchange: its token goes in the body, never here.
    assert [e.method for e in entries].count("POST") == 1
    for entry in entries:
        assert "?" not in entry.path
        assert account.account.api_token not in entry.path
        assert entry.duration_ms >= 0
    run.refresh_from_db()
    assert run.started_at is not None
    assert all(run.started_at <= e.at <= run.finished_at for e in entries)  # type: ignore[operator]


def test_a_secret_in_a_path_is_masked_and_nothing_is_written_until_the_session_ends(
    world: World,
) -> None:
    link = link_tenant(world.tenant_a1)
    buffer = RequestLogBuffer(link)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    buffer.record(RequestRecord("get", f"/v4/token/{jwt}", 200, 0.25, 1))
    buffer.record(RequestRecord("POST", "/v4/database/1/profiles", None, 30.0, 3))
    assert not RequestLogEntry.objects.exists()
    buffer.flush()
    first, second = RequestLogEntry.objects.order_by("id")
    assert jwt not in first.path
    assert first.path == "/v4/token/***"
    assert (first.method, first.status, first.duration_ms, first.attempt) == ("GET", 200, 250, 1)
    assert (second.status, second.attempt, second.is_retry) == (None, 3, True)
    buffer.flush()  # nothing left: no second copy
    assert RequestLogEntry.objects.count() == 2


def test_entries_older_than_14_days_are_pruned_by_a_daily_beat_task(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    now = timezone.now()
    for days in (15, 13, 0):
        RequestLogEntry.objects.create(
            link=link,
            at=now - timedelta(days=days),
            method="GET",
            path="/v4/databases",
            status=200,
            duration_ms=1,
        )
    assert request_log_prune(now=now).deleted == 1
    assert RequestLogEntry.objects.count() == 2
    schedule = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if "request_log" in e["task"]]
    assert schedule == [{"task": "linker.request_log_prune", "schedule": 24 * 3600.0}]


def test_the_requests_tab_lists_the_log_newest_first_with_filters(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    now = timezone.now()
    rows = [
        ("GET", "/v4/databases", 200, 1),
        ("GET", "/v4/database/1/profiles", 429, 1),
        ("GET", "/v4/database/1/profiles", 200, 2),
        ("PUT", "/v4/profile/5/fields", 400, 1),
        ("POST", "/v4/database/1/profiles", 503, 1),
    ]
    RequestLogEntry.objects.bulk_create(
        RequestLogEntry(
            link=link,
            at=now - timedelta(minutes=len(rows) - i),
            method=method,
            path=path,
            status=status,
            duration_ms=12,
            attempt=attempt,
        )
        for i, (method, path, status, attempt) in enumerate(rows)
    )
    viewer = Client()
    viewer.force_login(world.viewer_a1)
    url = reverse("tenant_detail", kwargs={"tenant_id": world.tenant_a1.pk})

    def log(**query: str) -> str:
        page = viewer.get(url, {"tab": "requests", **query}).content.decode()
        if 'data-testid="request-log"' not in page:
            return ""
        table = page[page.index('data-testid="request-log"') :]
        return table[: table.index("</table>")]

    everything = log()
    assert everything.count("<tr>") == 1 + 5
    assert everything.index("503") < everything.index("/v4/databases")  # newest first
    assert "retry 1" in everything
    assert "rate limited" in everything
    client_errors = log(status="4xx")
    assert client_errors.count("<tr>") == 1 + 2
    assert "429" in client_errors
    assert "400" in client_errors
    assert log(status="429").count("<tr>") == 1 + 1
    assert log(status="5xx").count("<tr>") == 1 + 1
    puts = log(method="PUT")
    assert puts.count("<tr>") == 1 + 1
    assert "/v4/profile/5/fields" in puts
    assert log(status="2xx", method="PUT") == ""
