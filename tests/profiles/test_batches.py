"""The outbox sends a link's queued changes in batches: one task marks them *sending* in one
transaction, sends them in order on one client and records them in one transaction.

What a batch must keep: each profile's changes in the order they were made, a change behind a
conflict (or a retry) of its own profile held back while the others go on, the rest correct
when one fails, a constant number of SQL statements however many changes it carries, and an
account-wide refusal (429, a revoked token) stopping it with nothing sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linker.models import LinkState, ProfileChange, RemoteProfile
from linker.profiles.batch_sending import profile_change_send
from linker.profiles.changes import profile_change_submit
from linker.profiles.conflicts import profile_change_resolve
from linker.profiles.relay import profile_changes_relay
from tests.linked_accounts import Linked, synced

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_PUT = "PUT /v4/profile/{id}"


def update(account: Linked, profile_id: int, **fields: str) -> ProfileChange:
    return profile_change_submit(
        user=account.editor,
        tenant=account.tenant,
        kind="update",
        profile=profile_id,
        fields=fields,
    )


def rows(changes: list[ProfileChange]) -> list[ProfileChange]:
    return list(ProfileChange.objects.filter(pk__in=[c.pk for c in changes]).order_by("id"))


def puts(sandbox) -> int:  # type: ignore[no-untyped-def]
    return int(sandbox.stats()["requests"].get(PROFILE_PUT, 0))


@pytest.fixture
def account(linked: Callable[..., Linked], sandbox) -> Linked:  # type: ignore[no-untyped-def]
    return synced(linked, 40)


def test_one_message_sends_the_links_queued_changes_each_profile_in_order(
    account: Linked, sandbox
) -> None:
    first, second = sorted(account.remote())[:2]
    changes = [
        update(account, first, city="One"),
        update(account, second, city="Other"),
        update(account, first, city="Two"),
        update(account, first, city="Three"),
    ]
    sandbox.reset_stats()

    outcome = profile_change_send(change_id=changes[0].pk)
    done = rows(changes)
    firsts = [c for c in done if c.copernica_profile_id == first]
    finished = [c.finished_at for c in firsts]

    assert outcome.state == "done"
    assert [(c.state, c.attempts) for c in done] == [("done", 1)] * 4
    assert puts(sandbox) == 4
    assert finished == sorted(finished)  # in the order they were made
    assert len(set(finished)) == 3
    assert account.remote()[first][0]["city"] == "Three"
    assert RemoteProfile.objects.get(link=account.link, copernica_id=first).fields["city"] == (
        "Three"
    )
    # The other messages find nothing to do.
    assert [profile_change_send(change_id=c.pk).state for c in changes[1:]] == ["done"] * 3
    assert puts(sandbox) == 4


def test_a_conflict_holds_its_profiles_later_changes_and_not_the_other_profiles(
    account: Linked, sandbox
) -> None:
    mine, other = sorted(account.remote())[:2]
    profile = RemoteProfile.objects.get(link=account.link, copernica_id=mine)
    edited = profile_change_submit(
        user=account.editor,
        tenant=account.tenant,
        kind="update",
        profile=profile,
        fields={"city": "Mine"},
        base_modified=profile.modified,
    )
    with account.client() as client:
        client.update_profile(mine, {"city": "Theirs"})  # someone else, meanwhile
    behind = update(account, mine, firstname="Later")
    elsewhere = update(account, other, city="Elsewhere")
    sandbox.reset_stats()

    profile_change_send(change_id=edited.pk)
    states = [(c.state, c.attempts) for c in rows([edited, behind, elsewhere])]
    relayed = profile_changes_relay(older_than=timedelta(0))
    sent_while_held = puts(sandbox)
    profile_change_resolve(
        user=account.editor, tenant=account.tenant, change=edited, action="discard"
    )
    after = profile_change_send(change_id=behind.pk)

    assert states == [("conflict", 1), ("queued", 0), ("done", 1)]
    assert relayed == 0  # neither the conflict nor the change behind it is sent again
    assert sent_while_held == 1  # the other profile's change only
    assert after.state == "done"
    assert account.remote()[mine][0]["city"] == "Theirs"
    assert account.remote()[mine][0]["firstname"] == "Later"


def test_a_failure_in_the_middle_of_a_batch_leaves_the_others_correct(
    account: Linked, sandbox
) -> None:
    ids = sorted(account.remote())[:6]
    removed, flaky = ids[2], ids[4]
    changes = [
        profile_change_submit(
            user=account.editor, tenant=account.tenant, kind="delete", profile=profile_id
        )
        if profile_id == removed
        else update(account, profile_id, city=f"City {n}")
        for n, profile_id in enumerate(ids)
    ]
    after_failed = update(account, removed, city="After")  # a failed change lets the next go
    with account.client() as client:
        client.delete_profile(removed)  # someone removed it meanwhile: the delete is refused
    sandbox.fault(path=f"/v4/profile/{flaky}", method="PUT", status=503, count=1)
    sandbox.reset_stats()

    outcome = profile_change_send(change_id=changes[0].pk)
    ended = {c.copernica_profile_id: c for c in rows(changes)}
    later = rows([after_failed])[0]
    remote = account.remote()

    assert outcome.state == "done"
    assert (ended[removed].state, ended[removed].attempts) == ("failed", 1)
    assert ended[removed].error_message == "This profile has already been removed"
    assert (ended[flaky].state, ended[flaky].attempts) == ("queued", 1)
    assert ended[flaky].next_attempt_at is not None
    assert ended[flaky].next_attempt_at > timezone.now() - timedelta(seconds=1)
    assert later.state != "queued"  # sent in the same batch, after the failed one
    assert later.attempts == 1
    for n, profile_id in enumerate(ids):
        if profile_id not in (removed, flaky):
            assert ended[profile_id].state == "done"
            assert remote[profile_id][0]["city"] == f"City {n}"
            mirrored = RemoteProfile.objects.get(link=account.link, copernica_id=profile_id)
            assert mirrored.fields["city"] == f"City {n}"
    assert remote[flaky][0]["city"] != "City 4"  # the 503 wrote nothing; its retry will
    assert puts(sandbox) == 6  # five updates (one refused) and the one after the delete
    assert profile_change_send(change_id=ended[flaky].pk).state == "queued"  # not due yet


def test_a_batch_takes_a_constant_number_of_sql_statements(account: Linked, sandbox) -> None:
    ids = sorted(account.remote())
    warm = update(account, ids[0], city="Warm")  # the day's ledger row exists from here on
    profile_change_send(change_id=warm.pk)
    counts = []
    for size, targets in ((3, ids[1:4]), (30, ids[4:34])):
        changes = [update(account, profile_id, city=f"Size {size}") for profile_id in targets]
        with CaptureQueriesContext(connection) as captured:
            profile_change_send(change_id=changes[0].pk)
        assert {c.state for c in rows(changes)} == {"done"}
        counts.append(len(captured.captured_queries))

    print(f"\nSQL statements per batch: 3 changes {counts[0]}, 30 changes {counts[1]}")
    assert counts[0] == counts[1]


def test_a_batch_out_of_time_leaves_the_rest_queued_without_counting_an_attempt(
    account: Linked,
    sandbox,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.LINKER_WRITE_BATCH_SECONDS = 0.3
    sandbox.fault(path="/v4/profile/", method="PUT", delay_ms=150, count=1000)
    changes = [
        update(account, profile_id, city="Slow") for profile_id in sorted(account.remote())[:8]
    ]

    profile_change_send(change_id=changes[0].pk)
    first = [(c.state, c.attempts) for c in rows(changes)]
    sent_first = sum(1 for state, _ in first if state == "done")
    for change in changes:
        profile_change_send(change_id=change.pk)  # what the messages enqueued again do
    ended = [(c.state, c.attempts) for c in rows(changes)]

    assert 1 <= sent_first < 8
    assert first[sent_first:] == [("queued", 0)] * (8 - sent_first)
    assert ended == [("done", 1)] * 8
    assert sandbox.stats()["profiles_updated"] == 8


def test_a_429_stops_the_batch_and_the_rest_wait_for_its_retry_after(
    account: Linked, sandbox
) -> None:
    changes = [
        update(account, profile_id, city="Later") for profile_id in sorted(account.remote())[:4]
    ]
    sandbox.fault(path="/v4/profile/", method="PUT", status=429, retry_after=30, count=1)
    sandbox.reset_stats()
    before = timezone.now()

    profile_change_send(change_id=changes[0].pk)
    ended = rows(changes)

    assert [(c.state, c.attempts) for c in ended] == [("queued", 1)] + [("queued", 0)] * 3
    assert all(c.next_attempt_at >= before + timedelta(seconds=30) for c in ended)
    assert puts(sandbox) == 1  # the refused one only
    assert ended[0].attempt_log[-1]["retry_in"] >= 30


def test_a_token_revoked_during_a_batch_parks_it_all_without_sending(
    account: Linked, sandbox
) -> None:
    changes = [
        update(account, profile_id, city="Never") for profile_id in sorted(account.remote())[:3]
    ]
    sandbox.revoke(account.account.api_token)  # its JWTs with it
    sandbox.reset_stats()

    profile_change_send(change_id=changes[0].pk)
    ended = rows(changes)
    account.link.refresh_from_db()

    assert account.link.state == LinkState.NEEDS_RECONNECT
    assert [(c.state, c.attempts) for c in ended] == [("waiting", 1)] + [("waiting", 0)] * 2
    assert sandbox.stats()["profiles_updated"] == 0
