"""The id lists of runs that stopped before their end are deleted by every full run's schema
phase: at a cost that does not grow with the lists of the runs going on (issue 16)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from linker.models import SyncRemoteId, SyncRun, SyncState
from linker.sync import remote_ids
from tests.factories import finished_run, link_tenant, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVE_ROWS = 30_000


def _lists(run: SyncRun, count: int, *, missing: bool = False) -> None:
    remote_ids.remote_ids_append(
        run_id=run.pk,
        position=0,
        first_ordinal=0,
        ids=[str(1000 + n) for n in range(count)],
        postgres=connection.vendor == "postgresql",
    )
    if missing:
        SyncRemoteId.objects.create(
            run_id=run.pk, source=1, missing=True, ordinal=0, copernica_id=7
        )


def _runs() -> tuple[SyncRun, SyncRun, SyncRun]:
    link = link_tenant(make_tenant(name="Busy"))
    failed = finished_run(link, state=SyncState.FAILED)
    cancelled = finished_run(link, state=SyncState.CANCELLED)
    going = SyncRun.objects.create(
        link=link_tenant(make_tenant(name="Big")), mode="full", state=SyncState.RUNNING
    )
    return failed, cancelled, going


def test_the_lists_of_stopped_runs_go_and_those_of_active_runs_stay() -> None:
    failed, cancelled, going = _runs()
    _lists(failed, 40, missing=True)
    _lists(cancelled, 3)
    _lists(going, 500)

    assert remote_ids.remote_ids_discard_stale() == 44

    left = SyncRemoteId.objects.values_list("run_id", flat=True).distinct()
    assert list(left) == [going.pk]
    assert SyncRemoteId.objects.count() == 500
    assert remote_ids.remote_ids_discard_stale() == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_discarding_reads_none_of_the_rows_of_a_run_going_on() -> None:
    failed, _, going = _runs()
    _lists(going, ACTIVE_ROWS)
    _lists(failed, 5)
    remote_ids.remote_ids_analyze(postgres=True)

    with transaction.atomic():
        deleted = remote_ids.remote_ids_discard_stale()
        with connection.cursor() as cursor:
            # This transaction's own counts (not yet sent to the statistics collector).
            cursor.execute(
                "SELECT seq_scan, coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
                "WHERE relname = %s",
                [SyncRemoteId._meta.db_table],
            )
            seq_scans, fetched = cursor.fetchone()

    assert deleted == 5
    assert SyncRemoteId.objects.filter(run_id=going.pk).count() == ACTIVE_ROWS
    # The old statement read the whole table (30,005 rows) to find the 5.
    assert seq_scans == 0
    assert fetched < 50
