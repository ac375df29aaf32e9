"""The mirror's search text, filled after the writes (issue 16): a search finds a profile
whether its text is filled or not, and a change of its fields empties the text again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from linker.inbound import tasks as inbound_tasks
from linker.models import RemoteDatabase, RemoteProfile
from linker.platform import delivery
from linker.profiles import search_fill as fill
from linker.profiles.batch_sending import profile_change_send
from linker.profiles.changes import profile_change_submit
from linker.profiles.search import search_filter
from linker.profiles.selectors import profile_browse
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked, synced

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(linked: Callable[..., Linked]) -> Linked:
    return synced(linked, 30)


def _found(account: Linked, query: str) -> list[int]:
    browser = profile_browse(
        tenant=account.tenant, database_id=account.account.database_id, query=query
    )
    return [profile.copernica_id for profile in browser.profiles]


def _unfilled(account: Linked) -> int:
    return RemoteProfile.objects.filter(link=account.link, search_text=None).count()


def _sync(account: Linked) -> None:
    run, _ = sync_run_request(link=account.link, mode="incremental", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"


def test_a_profile_is_found_before_and_after_the_fill_and_after_an_edit(
    account: Linked,
) -> None:
    profile = RemoteProfile.objects.filter(link=account.link).order_by("copernica_id")[7]
    # The sync's COPY leaves every row unfilled; the search scans those.
    assert _unfilled(account) == 30
    assert _found(account, "Zuidlaren") == []
    account.sandbox.update_profile(profile.copernica_id, {"city": "Zuidlaren"})
    _sync(account)
    assert _found(account, "zuidlaren") == [profile.copernica_id]

    assert fill.search_fill(link_id=account.link.pk) == (30, True)
    profile.refresh_from_db()
    assert profile.search_text is not None
    assert "Zuidlaren" in profile.search_text
    assert _unfilled(account) == 0
    assert _found(account, "zuidlaren") == [profile.copernica_id]

    # An edit at Copernica, synced: the trigger empties the text it made stale, and the
    # search follows the new value before the next fill and after it.
    account.sandbox.update_profile(profile.copernica_id, {"city": "Appelscha"})
    _sync(account)
    profile.refresh_from_db()
    assert profile.fields["city"] == "Appelscha"
    assert profile.search_text is None
    assert _unfilled(account) == 1
    assert _found(account, "zuidlaren") == []
    assert _found(account, "appelscha") == [profile.copernica_id]
    assert fill.search_fill(link_id=account.link.pk) == (1, True)
    assert _found(account, "zuidlaren") == []
    assert _found(account, "appelscha") == [profile.copernica_id]


def test_only_a_change_of_the_fields_empties_the_text(account: Linked) -> None:
    fill.search_fill(link_id=account.link.pk)
    rows = RemoteProfile.objects.filter(link=account.link).order_by("copernica_id")
    first, second, third = rows[0], rows[1], rows[2]
    RemoteProfile.objects.filter(pk=first.pk).update(interests=["x"], modified=None)
    RemoteProfile.objects.filter(pk=second.pk).update(fields=second.fields)  # the same fields
    third.fields = {**third.fields, "city": "Elsewhere"}
    third.save()
    texts = dict(
        RemoteProfile.objects.filter(pk__in=[first.pk, second.pk, third.pk]).values_list(
            "pk", "search_text"
        )
    )
    assert texts[first.pk] is not None
    assert texts[second.pk] is not None
    assert texts[third.pk] is None


def test_the_fill_resumes_where_it_stopped_and_is_idempotent(account: Linked) -> None:
    # No time at all: one batch per call, then the rest is left to the next.
    assert fill.search_fill(link_id=account.link.pk, batch=8, seconds=0) == (8, False)
    assert _unfilled(account) == 22
    assert fill.search_fill(link_id=account.link.pk, batch=8) == (22, True)
    assert fill.search_fill(link_id=account.link.pk, batch=8) == (0, True)
    texts = RemoteProfile.objects.filter(link=account.link).values_list("search_text", flat=True)
    assert all(text and text.startswith("[") for text in texts)


def test_an_unfinished_fill_enqueues_the_rest(
    account: Linked, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(
        delivery, "publish", lambda task, *args, **options: sent.append((task, *args, options))
    )
    monkeypatch.setattr(fill, "FILL_BATCH", 10)
    monkeypatch.setattr(fill, "FILL_SECONDS", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert fill.search_fill_run(link_id=account.link.pk) == 10
    assert sent == [
        (delivery.Task.PROFILE_SEARCH_FILL, account.link.pk, {"countdown": 0.0, "priority": 9})
    ]


def test_a_sync_run_enqueues_the_fill_when_it_ends(
    account: Linked, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(delivery, "publish", lambda task, *args, **_: sent.append((task, *args)))
    with django_capture_on_commit_callbacks(execute=True):
        _sync(account)
    assert (delivery.Task.PROFILE_SEARCH_FILL, account.link.pk) in sent


def test_a_filled_search_is_answered_by_both_search_indexes(account: Linked) -> None:
    """The trigram index of the filled rows, ORed with the link's unfilled ones."""
    assert connection.vendor == "postgresql"
    fill.search_fill(link_id=account.link.pk)
    database = RemoteDatabase.objects.get(link=account.link)
    # The whole table (no filter another index could serve first: a small table's plan
    # would take those); the browser's plans at a million rows are the bench's.
    profiles = search_filter(
        RemoteProfile.objects.all(),
        query="utrecht",
        searched=["city"],
        id_of=None,
        database_id=database.pk,
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = profiles.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "remote_profile_search_trgm" in plan
    assert "remote_profile_link_search" in plan


def test_an_edit_sent_through_the_outbox_is_found_at_once_without_a_fill(
    account: Linked, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    fill.search_fill(link_id=account.link.pk)
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(delivery, "publish", lambda task, *args, **_: sent.append((task, *args)))
    profile = RemoteProfile.objects.filter(link=account.link).order_by("copernica_id")[4]
    with django_capture_on_commit_callbacks(execute=True):
        change = profile_change_submit(
            user=account.editor,
            tenant=account.tenant,
            kind="update",
            profile=profile.copernica_id,
            fields={"city": "Ootmarsum"},
        )
        assert profile_change_send(change_id=change.pk).state == "done"
    profile.refresh_from_db()
    assert profile.fields["city"] == "Ootmarsum"
    assert profile.search_text is None
    assert _found(account, "ootmarsum") == [profile.copernica_id]
    # The write path stays lean: the link's next run fills the text.
    assert (delivery.Task.PROFILE_SEARCH_FILL, account.link.pk) not in sent


@pytest.mark.parametrize(("applied", "fills"), [(3, 1), (0, 0)])
def test_applying_inbound_events_enqueues_the_fill_when_it_wrote_any(
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    applied: int,
    fills: int,
) -> None:
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(delivery, "publish", lambda task, *args, **_: sent.append((task, *args)))
    monkeypatch.setattr(inbound_tasks, "inbound_events_apply", lambda link_id: applied)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_tasks.inbound_events_apply_task(7)
    assert sent.count((delivery.Task.PROFILE_SEARCH_FILL, 7)) == fills
