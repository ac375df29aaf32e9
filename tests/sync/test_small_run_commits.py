"""A small run's fixed cost: its commits and requests. A first full run of one page commits three
times, none waiting for the disk, after its claim (one UPDATE, committed on its own): the
schema, the page with the checkpoint past the
profiles phase, and the last decision with the run's end and its request counts (no missing set
is stored: every row is one the run wrote, and one count says no other row is live). A list
read in one answer changed while nobody paged it: no catch-up walk, and the answer's ids are
the walked list, compared with Copernica's count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from linker.models import RemoteProfile, RequestLedger, RequestLogEntry
from linker.platform import delivery
from linker.profiles.search_fill import search_fill
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


def test_a_first_full_run_of_one_page_commits_three_times_without_waiting_for_the_disk(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=300)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    account.sandbox.reset_stats()

    with commits_counted() as commits:
        outcome = sync_run_step(run_id=run.pk)

    assert outcome.state == "succeeded"
    assert commits == ["off"] * 3
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


def test_an_incremental_run_of_one_page_ends_with_its_page(
    linked: Callable[..., Linked],
) -> None:
    account = linked(profiles=40)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    changed = sorted(account.remote())[:3]
    with account.client() as client:
        for profile_id in changed:
            client.update_profile(profile_id, {"city": "Ootmarsum"})
    run, _ = sync_run_request(link=account.link, mode="incremental", enqueue=False)

    with commits_counted() as commits:
        outcome = sync_run_step(run_id=run.pk)

    # The schema, and the page with the run's end (the claim commits on its own).
    assert (outcome.state, len(commits)) == ("succeeded", 2)
    run.refresh_from_db()
    assert (run.state, run.pages, run.checkpoint["phase"]) == ("succeeded", 1, "done")
    assert run.updated_count >= 3
    assert run.fetched >= 3
    assert account.mirror() == account.remote()


def test_a_run_that_leaves_no_row_unfilled_enqueues_no_search_fill(
    linked: Callable[..., Linked],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    account = linked(profiles=40)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    search_fill(link_id=account.link.pk)
    sent: list[object] = []
    monkeypatch.setattr(delivery, "publish", lambda task, *args, **_: sent.append((task, *args)))
    fill = (delivery.Task.PROFILE_SEARCH_FILL, account.link.pk)

    with django_capture_on_commit_callbacks(execute=True):
        run, _ = sync_run_request(link=account.link, mode="incremental", enqueue=False)
        assert sync_run_foreground(run=run).state == "succeeded"
    assert fill not in sent

    # A row the write-back edited (its text reset) is filled after the link's next run.
    edited = RemoteProfile.objects.filter(link=account.link).order_by("copernica_id")[3]
    RemoteProfile.objects.filter(pk=edited.pk).update(search_text=None)
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = sync_run_request(link=account.link, mode="incremental", enqueue=False)
        assert sync_run_foreground(run=run).state == "succeeded"
    assert fill in sent


def test_a_first_full_run_enqueues_the_search_fill_without_asking_the_mirror(
    linked: Callable[..., Linked],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Its profiles went straight into the mirror, without search text: the fill is due, and
    the run's end knows it without a query."""
    account = linked(profiles=40)
    sent: list[object] = []
    monkeypatch.setattr(delivery, "publish", lambda task, *args, **_: sent.append((task, *args)))

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
        assert sync_run_foreground(run=run).state == "succeeded"

    assert (delivery.Task.PROFILE_SEARCH_FILL, account.link.pk) in sent
    assert not [q for q in queries if '"search_text" IS NULL' in q["sql"]]
    assert RemoteProfile.objects.filter(link=account.link, search_text=None).count() == 40
