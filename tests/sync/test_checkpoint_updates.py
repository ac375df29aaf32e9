"""A run's checkpoint, written after every page, is a HOT update: no column it changes is
indexed (migration 0023), so PostgreSQL writes the new version beside the old one without an
entry in any of the run table's indexes. And the queries that used the heartbeat's index still
find what they look for."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from linker.models import SyncRun, SyncState
from linker.sync import run_rows
from linker.sync.runs import sync_run_request, sync_runs_reconcile
from tests.linked_accounts import Linked

pytestmark = pytest.mark.django_db(transaction=True)


def run_updates() -> tuple[int, int]:
    """The run table's updates and HOT updates of the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
            [SyncRun._meta.db_table],
        )
        row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def test_each_pages_checkpoint_is_a_hot_update(linked: Callable[..., Linked]) -> None:
    account = linked(profiles=1)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    SyncRun.objects.filter(pk=run.pk).update(state=SyncState.RUNNING, claim="worker-1")
    sql = run_rows.commit_statement(("pages", "fetched"), True)

    with transaction.atomic():
        before = run_updates()
        for page in range(1, 4):
            with connection.cursor() as cursor:
                cursor.execute(
                    sql,
                    [
                        json.dumps({"after_id": page * 1000}),
                        timezone.now(),
                        1,
                        1,
                        1000,
                        run.pk,
                        "worker-1",
                        SyncState.RUNNING.value,
                    ],
                )
                assert cursor.rowcount == 1
        after = run_updates()

    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)
    run.refresh_from_db()
    assert (run.pages, run.fetched, run.checkpoint) == (3, 3000, {"after_id": 3000})


def test_the_reconciler_still_finds_a_run_whose_heartbeat_went_stale(
    linked: Callable[..., Linked],
) -> None:
    stale, fresh = linked(profiles=1), linked(profiles=1)
    now = timezone.now()
    for account, heartbeat in ((stale, now - timedelta(hours=1)), (fresh, now)):
        run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
        SyncRun.objects.filter(pk=run.pk).update(
            state=SyncState.RUNNING, claim="gone", heartbeat_at=heartbeat
        )
    stale_run = SyncRun.objects.get(link=stale.link)

    assert sync_runs_reconcile(stale_after=timedelta(minutes=10)) == [stale_run.pk]
