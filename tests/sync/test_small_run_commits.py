"""A small run's fixed cost: its commits and requests. A first full run of one page commits five
times, none waiting for the disk: the claim, the schema, the page with the checkpoint past the
profiles phase, the missing set (into an UNLOGGED table) and the last decision with the run's
end and its request counts. A list read in one answer changed while nobody paged it: no
catch-up walk, and the answer's ids are the walked list, compared with Copernica's count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from linker.models import RequestLedger, RequestLogEntry
from linker.sync.runs import sync_run_foreground, sync_run_request, sync_run_step
from tests.linked_accounts import Linked

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def commits_counted() -> Iterator[list[str]]:
    """The commits of this connection while the block runs, each as the ``synchronous_commit``
    it was made with."""
    made: list[str] = []
    inner = connection.connection.commit

    def counted() -> None:
        with connection.connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            row = cursor.fetchone()
        made.append(str(row[0]) if row else "")
        inner()

    connection.ensure_connection()
    connection.connection.commit = counted  # type: ignore[method-assign]
    try:
        yield made
    finally:
        del connection.connection.commit


def test_a_first_full_run_of_one_page_commits_five_times_without_waiting_for_the_disk(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=300)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    account.sandbox.reset_stats()

    with commits_counted() as commits:
        outcome = sync_run_step(run_id=run.pk)

    assert outcome.state == "succeeded"
    assert commits == ["off"] * 5
    # The databases, the one page and Copernica's count: no catch-up walk, no id list.
    requests = account.sandbox.stats()["requests"]
    profile_reads = {key: n for key, n in requests.items() if key.startswith("GET /v4/database")}
    assert sum(profile_reads.values()) == 3, requests
    run.refresh_from_db()
    assert (run.state, run.fetched, run.created_count, run.local_count) == (
        "succeeded",
        300,
        300,
        300,
    )
    # The request counts and log went out with the run's end.
    assert RequestLedger.objects.get(link=account.link).requests == run.requests > 0
    assert RequestLogEntry.objects.filter(link=account.link).count() == run.requests
    assert account.mirror() == account.remote()


def test_a_run_whose_last_decision_removes_profiles_counts_them_with_its_end(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=30)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    gone = sorted(account.remote())[:2]
    with account.client() as client:
        for profile_id in gone:
            client.delete_profile(profile_id)

    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    run = sync_run_foreground(run=run)

    assert run.state == "succeeded"
    assert (run.removed_count, run.local_count, run.remote_count) == (2, 28, 28)
    assert account.mirror() == account.remote()
