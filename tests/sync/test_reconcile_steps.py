"""The reconcile phase in bounded, checkpointed steps (issue 11; reliability.md cases 45 and
47): a step interrupted after an id list resumes without reading it again, the heartbeat moves
while the phase works, and the anti-join plans as a hash join without statistics."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from linker.models import RemoteProfile, SyncRemoteId, SyncRun
from linker.platform import delivery
from linker.sync import reconcile, remote_ids, removals, upserts
from linker.sync import tasks as sync_tasks
from linker.sync.removals import SAMPLE_SIZE
from linker.sync.runs import (
    sync_run_foreground,
    sync_run_request,
    sync_run_step,
    sync_runs_reconcile,
)
from linker.sync.sources import PROFILE_SOURCE, Source
from tests.linked_accounts import Linked
from tests.sync.table_settings import autovacuum_off

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_IDS = "GET /v4/database/{id}/profileids"


@pytest.fixture(autouse=True)
def _quick_retries(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LINKER_RETRY_BASE_SECONDS = 0.01
    settings.LINKER_SYNC_CLIENT_RETRIES = 0


@pytest.fixture
def downloaded_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs read Copernica's id lists: these tests are about loading them in steps (a full
    run otherwise takes the ids its walk saw when Copernica's count agrees with them)."""
    monkeypatch.setattr(reconcile, "WALKED_LISTS", False)


def id_list_requests(account: Linked) -> int:
    return int(account.sandbox.stats()["requests"].get(PROFILE_IDS, 0))


def removed_ids(account: Linked) -> set[int]:
    removed = RemoteProfile.objects.filter(link=account.link).exclude(removed_at=None)
    return set(removed.values_list("copernica_id", flat=True))


def reconcile_state(run: SyncRun) -> dict:  # type: ignore[type-arg]
    run.refresh_from_db()
    return dict(run.checkpoint.get("reconcile") or {})


@pytest.mark.usefixtures("downloaded_lists")
def test_a_reconcile_stopped_after_the_first_list_resumes_without_reading_it_again(
    linked: Callable[..., Linked],
) -> None:
    """Cases 45/47: the second database's id list fails; the retry reads only that one."""
    account = linked(profiles=1500, databases=2)
    second = account.account.database_ids[1]
    account.sandbox.fault(path=f"/v4/database/{second}/profileids", status=503, count=1)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)

    failed = sync_run_step(run_id=run.pk)
    state = reconcile_state(run)
    requests_before_retry = id_list_requests(account)
    time.sleep(failed.countdown)
    done = sync_run_foreground(run=run)

    assert failed.again
    first = (
        f"profiles:{account.link.remote_databases.get(copernica_id=account.account.database_id).pk}"
    )
    assert (state["loaded"], state["decided"], list(state["lists"])) == (1, 0, [first])
    # The first list: 2 pages and the empty page that ends it. Then the failed request.
    assert requests_before_retry == 3 + 1
    assert id_list_requests(account) - requests_before_retry == 3  # the second list only
    assert done.state == "succeeded"
    assert (done.attempts, done.removed_count) == (2, 0)
    assert account.mirror_all() == account.remote_all()
    assert not SyncRemoteId.objects.exists()  # the copies go when the phase ends


@pytest.mark.usefixtures("downloaded_lists")
def test_a_list_read_over_several_steps_is_loaded_once_and_whole(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step loads at least a block of the list (here 1,000 ids) and commits it with its
    offset; a resumed step reads on from the last id it holds: at most one request more per
    resume than an uninterrupted read."""
    monkeypatch.setattr(reconcile, "ID_ROWS_PER_COMMIT", 1000)
    account = linked(profiles=3500)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    offsets = []
    while not reconcile_state(run).get("loaded"):
        sync_run_step(run_id=run.pk, max_pages=1)
        state = reconcile_state(run)
        if state and not state["loaded"]:
            offsets.append(state["start"])
            assert SyncRemoteId.objects.filter(run_id=run.pk).count() == state["start"]

    (listed,) = reconcile_state(run)["lists"].values()
    done = sync_run_foreground(run=run)

    assert offsets[0] == 1000
    assert all(later - earlier >= 1000 for earlier, later in pairwise(offsets))
    assert id_list_requests(account) <= 4 + 1 + len(offsets)  # 4 pages and the empty end
    assert listed == {
        "length": 3500,
        "before": 3500,
        "after": 3500,
        "distinct": 3500,
        "moved": False,
        "rows": None,  # Copernica's list, not the walk's
    }
    assert done.state == "succeeded"
    assert done.removed_count == 0


@pytest.mark.usefixtures("downloaded_lists")
def test_a_list_that_moved_between_steps_is_not_applied_in_bulk(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45: a profile the loaded part of the list holds is deleted between two steps, so
    the rest of the list has shifted: its 250 missing rows are only removed where the sample
    confirmed them, and the next full run applies the rest."""
    monkeypatch.setattr(reconcile, "ID_ROWS_PER_COMMIT", 1000)
    account = linked(profiles=3000)
    sync_run_foreground(run=sync_run_request(link=account.link, mode="full", enqueue=False)[0])
    ids = sorted(account.remote())
    gone = set(ids[2000::4][:250])
    with account.client() as client:
        for profile_id in gone:
            client.delete_profile(profile_id)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    while reconcile_state(run).get("start", 0) < 1000:
        sync_run_step(run_id=run.pk, max_pages=1)
    with account.client() as client:
        client.delete_profile(ids[10])  # already loaded: the offsets after it shift

    done = sync_run_foreground(run=run)
    removed = removed_ids(account)
    following = sync_run_foreground(
        run=sync_run_request(link=account.link, mode="full", enqueue=False)[0]
    )

    assert [listed["moved"] for listed in reconcile_state(done)["lists"].values()] == [True]
    assert "changed while it was read in steps" in done.error_message
    assert 0 < len(removed) <= SAMPLE_SIZE
    assert removed <= gone
    assert following.removed_count == 250 + 1 - len(removed)
    assert account.mirror() == account.remote()


def test_the_heartbeat_moves_while_a_slow_reconcile_works(linked: Callable[..., Linked]) -> None:
    """Case 47: with every id-list request taking 150 ms and 120 profiles to read back one by
    one, the phase takes seconds; the reconciler, taking over runs silent for 1.5 s, never
    takes it for dead."""
    account = linked(profiles=12_000)
    sync_run_foreground(run=sync_run_request(link=account.link, mode="full", enqueue=False)[0])
    with account.client() as client:
        for profile_id in sorted(account.remote())[::100]:
            client.delete_profile(profile_id)
    account.sandbox.fault(path="/v4/database/", method="GET", delay_ms=150, count=100_000)
    account.sandbox.fault(path="/v4/profile/", method="GET", delay_ms=60, count=100_000)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    finished = threading.Event()

    def work() -> None:
        try:
            sync_run_foreground(run=SyncRun.objects.get(pk=run.pk))
        finally:
            finished.set()
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    heartbeats: set[object] = set()
    taken_over: list[int] = []
    started = time.monotonic()
    while not finished.wait(0.1):
        current = SyncRun.objects.get(pk=run.pk)
        if current.checkpoint.get("phase") == "reconcile":
            heartbeats.add(current.heartbeat_at)
        taken_over += sync_runs_reconcile(stale_after=timedelta(seconds=1.5))
    worker.join()
    elapsed = time.monotonic() - started
    account.sandbox.clear_faults()

    done = SyncRun.objects.get(pk=run.pk)
    assert done.state == "succeeded"
    assert elapsed > 4
    assert taken_over == []
    assert done.attempts == 1
    assert len(heartbeats) >= 4
    assert done.removed_count == 120


@pytest.mark.usefixtures("downloaded_lists")
def test_id_lists_left_by_a_failed_run_are_deleted_by_the_next_full_run(
    linked: Callable[..., Linked], settings
) -> None:  # type: ignore[no-untyped-def]
    settings.LINKER_SYNC_MAX_ATTEMPTS = 2
    account = linked(profiles=500, databases=2)
    second = account.account.database_ids[1]
    account.sandbox.fault(path=f"/v4/database/{second}/profileids", status=503, count=2)
    failed = sync_run_foreground(
        run=sync_run_request(link=account.link, mode="full", enqueue=False)[0]
    )
    left = SyncRemoteId.objects.filter(run_id=failed.pk).count()

    done = sync_run_foreground(
        run=sync_run_request(link=account.link, mode="full", enqueue=False)[0]
    )

    assert failed.state == "failed"
    assert left == 500
    assert done.state == "succeeded"
    assert not SyncRemoteId.objects.exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_missing_rows_are_found_with_a_hash_join_whatever_the_statistics(
    linked: Callable[..., Linked],
) -> None:
    """Issue 11: the anti-join once nested loops over a mirror no ANALYZE had seen (17-33 s
    for 20,000 profiles). Its plan now has no nested loop, statistics or not."""
    account = linked(profiles=2000)
    sync_run_foreground(run=sync_run_request(link=account.link, mode="full", enqueue=False)[0])
    database = account.link.remote_databases.get()
    source = Source(PROFILE_SOURCE, database.pk, database.copernica_id)
    listed = [str(i) for i in sorted(account.remote())[:1500]]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE linker_syncremoteid")  # forgets what ANALYZE saw of it
    remote_ids.remote_ids_append(run_id=1, position=0, first_ordinal=0, ids=listed, postgres=True)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'linker_syncremoteid'")
        (tuples,) = cursor.fetchone()
        remote_ids.hash_joins_only(postgres=True)
        cursor.execute(
            "EXPLAIN " + remote_ids.missing_collect_sql(source),
            [1, 0, True, source.pk, 1, 0, False],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    missing = remote_ids.missing_collect(source=source, run_id=1, position=0, postgres=True)

    assert tuples <= 0  # never analyzed
    assert "Nested Loop" not in plan
    assert "Anti Join" in plan  # a hash or a merge join: linear (or n log n) in the size
    assert missing == 500


def _profile_table_stale() -> bool:
    """Whether the profile mirror is past autovacuum's analyze threshold (statistics flushed
    first, so the counters include this connection's own writes)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.n_mod_since_analyze > 50 + 0.1 * c.reltuples FROM pg_class c "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = %s",
            [RemoteProfile._meta.db_table],
        )
        (stale,) = cursor.fetchone()
    return bool(stale)


def _histogram_bounds(table: str, column: str) -> int:
    """The bounds of the histogram the last ANALYZE kept of ``table.column``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_length(histogram_bounds, 1) FROM pg_stats "
            "WHERE tablename = %s AND attname = %s",
            [table, column],
        )
        (bounds,) = cursor.fetchone()
    return int(bounds)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_run_that_wrote_a_sliver_of_a_stale_mirror_leaves_its_analyze_to_autovacuum(
    linked: Callable[..., Linked],
) -> None:
    """Many small runs add up past the analyze threshold; the one that crosses it must not pay
    for sampling every tenant's rows. A run whose own rows are a tenth of the table still
    analyzes (a first sync into an empty mirror)."""
    table = RemoteProfile._meta.db_table
    with autovacuum_off(table):
        first = linked(profiles=2000)
        sync_run_foreground(run=sync_run_request(link=first.link, mode="full", enqueue=False)[0])
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
        second = linked(profiles=300)
        sync_run_foreground(run=sync_run_request(link=second.link, mode="full", enqueue=False)[0])
        assert _profile_table_stale()

        sliver = upserts.mirrors_analyze(written=20)
        assert _profile_table_stale()
        tenth = upserts.mirrors_analyze(written=300)

    assert table not in sliver
    assert table in tenth


def test_a_large_first_sync_analyzes_before_its_counts_instead_of_leaving_it_to_a_task(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without statistics the planner counted a database's live rows through the e-mail index,
    a heap page per row: 2 s at 1,000,000 (``ANALYZE_LATER_BELOW``). Here the line is lowered
    to the account's size, and the run's own phase analyzes, before it counts."""
    sent: list[tuple[object, ...]] = []
    order: list[str] = []
    monkeypatch.setattr(delivery, "publish", lambda task, *args, **kw: sent.append((task, *args)))
    monkeypatch.setattr(reconcile, "ANALYZE_LATER_BELOW", 2500)
    real_analyze, real_count = upserts.mirrors_analyze, removals.removals_none_missing

    def analyze(*, written: int | None = None, quick: bool = False) -> list[str]:
        order.append(f"analyze {written}{' quick' if quick else ''}")
        return real_analyze(written=written, quick=quick)

    def count(**options: Any) -> Any:
        order.append("count")
        return real_count(**options)

    monkeypatch.setattr(upserts, "mirrors_analyze", analyze)
    monkeypatch.setattr(removals, "removals_none_missing", count)
    account = linked(profiles=2500)
    with autovacuum_off(RemoteProfile._meta.db_table):
        run = sync_run_foreground(run=sync_run_request(link=account.link, mode="full")[0])
        bounds = _histogram_bounds(RemoteProfile._meta.db_table, "copernica_id")

    assert run.state == "succeeded"
    assert order == ["analyze 2500 quick", "count"]
    assert delivery.Task.SYNC_MIRRORS_ANALYZE not in [task for task, *_ in sent]
    assert account.mirror() == account.remote()
    # The quick sample: a histogram of QUICK_STATISTICS_TARGET buckets (PostgreSQL's usual
    # target makes 100 of 2,500 distinct ids).
    assert bounds == upserts.QUICK_STATISTICS_TARGET + 1


def test_a_first_sync_leaves_its_analyze_to_a_task_and_a_second_run_analyzes_itself(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small first sync's reconcile needs no statistics (its count reads every row of the
    database whatever the plan): the ANALYZE goes to a task at the lowest priority, which the
    task then runs. A run whose pages went
    through the upsert (its ids recorded) still analyzes in its own phase."""
    sent: list[tuple[object, ...]] = []
    analyzed: list[int | None] = []
    monkeypatch.setattr(delivery, "publish", lambda task, *args, **kw: sent.append((task, *args)))
    real_analyze = upserts.mirrors_analyze

    def counted(*, written: int | None = None, quick: bool = False) -> list[str]:
        analyzed.append(written)
        return real_analyze(written=written, quick=quick)

    monkeypatch.setattr(upserts, "mirrors_analyze", counted)
    account = linked(profiles=2500)
    first = sync_run_foreground(run=sync_run_request(link=account.link, mode="full")[0])

    assert first.state == "succeeded"
    assert analyzed == []
    assert (delivery.Task.SYNC_MIRRORS_ANALYZE, 2500) in sent
    sync_tasks.sync_mirrors_analyze(2500)
    assert analyzed == [2500]

    with account.client() as client:
        client.update_profile(sorted(account.remote())[7], {"city": "Ootmarsum"})
    RemoteProfile.objects.filter(link=account.link).update(fields={})  # every row rewritten
    second = sync_run_foreground(run=sync_run_request(link=account.link, mode="full")[0])

    assert second.state == "succeeded"
    assert analyzed == [2500, 2500]
    assert [task for task, *_ in sent].count(delivery.Task.SYNC_MIRRORS_ANALYZE) == 1
    assert account.mirror() == account.remote()


@pytest.mark.django_db(transaction=True)
def test_the_straight_in_check_looks_into_the_key_index_even_without_statistics(
    linked: Callable[..., Linked],
) -> None:
    """Each step of a first sync asks whether the mirror holds a row past its checkpoint before
    anything analyzed the rows it COPYed. Planned without statistics, an ``EXISTS`` walked the
    e-mail index through every row of the database so far (7 s of a 1,000,000 profile first
    sync, EXPLAIN in reconcile_bench; at this test's size the planner chose well either way):
    the question must be answered from the key's index."""
    table = RemoteProfile._meta.db_table
    account = linked(profiles=3000)
    run = sync_run_request(link=account.link, mode="full", enqueue=False)[0]
    sync_run_foreground(run=run)
    database_id, last = (
        RemoteProfile.objects.filter(link=account.link)
        .order_by("-copernica_id")
        .values_list("database_id", "copernica_id")
        .first()
    )
    try:
        with connection.cursor() as cursor:
            # What PostgreSQL knows of a mirror emptied and filled since (reconcile_bench's
            # EXPLAIN showed it): no statistics, no size (autovacuum kept from looking).
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table])
            cursor.execute(
                "UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass",
                [table],
            )
        with CaptureQueriesContext(connection) as queries:
            allowed = upserts.copy_straight_in_allowed(parent_id=database_id, after_id=last)
        (query,) = queries.captured_queries
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query['sql']}")
            plan = json.dumps(cursor.fetchone()[0])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
            cursor.execute(f"ANALYZE {table}")

    assert allowed
    assert '"Index Name": "remote_profile_unique_per_database"' in plan, plan
    assert '"Rows Removed by Filter"' not in plan, plan
