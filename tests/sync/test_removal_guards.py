"""The removal guard (reliability.md case 45): a short, cut or miscounted id list never marks a
live profile removed, and real deletions are applied once something independent confirms
them. The rules and thresholds are in ``linker/sync/removals.py``; the engine runs in this
process against PostgreSQL and the sandbox over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from linker.linking import client as link_client
from linker.models import RemoteProfile, SyncRun, SyncSchedule
from linker.sync import reconcile
from linker.sync.removals import CONFIRM_REMOVALS_UP_TO, MASS_REMOVAL_SHARE, SAMPLE_SIZE
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked

pytestmark = pytest.mark.django_db(transaction=True)

READ_BACK = "GET /v4/profile/{id}"


def full_sync(account: Linked) -> SyncRun:
    run, created = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert created
    return sync_run_foreground(run=run)


def read_backs(account: Linked) -> int:
    return int(account.sandbox.stats()["requests"].get(READ_BACK, 0))


def removed_ids(account: Linked) -> set[int]:
    rows = RemoteProfile.objects.filter(link=account.link).exclude(removed_at=None)
    return set(rows.values_list("copernica_id", flat=True))


def delete_at_copernica(account: Linked, ids: list[int]) -> set[int]:
    with account.client() as client:
        for profile_id in ids:
            client.delete_profile(profile_id)
    return set(ids)


class Rewriting(httpx.HTTPTransport):
    """Copernica as a broken proxy or a capped answer would show it.

    ``served``: the whole id list is rewritten once and served paged, consistently (a list
    that is short, but well-formed). ``answers``: each id-list answer is rewritten on its own
    (what a proxy dropping ids does: the offsets of the later pages shift). ``total``: the
    count's ``total`` is rewritten. ``cut``: that many id-list answers are cut mid-array.
    """

    def __init__(
        self,
        *,
        served: Callable[[list[str]], list[str]] | None = None,
        answers: Callable[[list[str]], list[str]] | None = None,
        total: Callable[[int], int] | None = None,
        cut: int = 0,
    ) -> None:
        super().__init__()
        self.served, self.answers, self.total, self.cut = served, answers, total, cut

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        if path.endswith("/profileids") and self.served is not None:
            start, limit = int(params.get("start", 0)), int(params.get("limit", 100))
            ids = self.served(self._whole_list(request))[start : start + limit]
            return self._json(ids)
        response = super().handle_request(request)
        if path.endswith("/profileids") and self.cut > 0:
            self.cut -= 1
            body = response.read()
            return httpx.Response(200, content=body[: len(body) // 2 - 3])
        if path.endswith("/profileids") and self.answers is not None:
            response.read()
            return self._json(self.answers(response.json()))
        if path.endswith("/profiles") and params.get("total") == "true" and self.total:
            response.read()
            document = response.json()
            document["total"] = self.total(document["total"])
            return self._json(document)
        return response

    def _whole_list(self, request: httpx.Request) -> list[str]:
        ids: list[str] = []
        while True:
            page = request.url.copy_merge_params({"start": len(ids), "limit": 1000})
            response = super().handle_request(httpx.Request("GET", page, headers=request.headers))
            response.read()
            block = response.json()
            if not block:
                return ids
            ids.extend(block)

    @staticmethod
    def _json(document: Any) -> httpx.Response:
        return httpx.Response(
            200, content=json.dumps(document).encode(), headers={"Content-Type": "application/json"}
        )


@contextmanager
def copernica_rewritten(monkeypatch: pytest.MonkeyPatch, **rewrite: Any) -> Iterator[Rewriting]:
    """The engine's clients go through a :class:`Rewriting` transport (``rewrite`` its
    arguments); the test's own client (``account.client()``) sees the real sandbox.

    A rewritten id list is read: a full run otherwise takes the ids its walk saw for the list
    when Copernica's count agrees with them (``test_walked_ids.py``), and would not ask. A
    rewritten count alone is left to make that choice: it disagrees with the walk."""
    if {"served", "answers", "cut"} & set(rewrite):
        monkeypatch.setattr(reconcile, "WALKED_LISTS", False)
    transport = Rewriting(**rewrite)
    original = link_client.client_for

    def client_for(link, **options):  # type: ignore[no-untyped-def]
        return original(link, transport=transport, **options)

    monkeypatch.setattr(link_client, "client_for", client_for)
    yield transport
    monkeypatch.setattr(link_client, "client_for", original)


def every_nth(ids: list[int], dropped: int) -> set[str]:
    """``dropped`` ids spread evenly over ``ids``, as strings (as Copernica lists them)."""
    step = len(ids) / dropped
    return {str(ids[int(n * step)]) for n in range(dropped)}


# ------------------------------------------------------------------ the thresholds, at edges


@pytest.mark.parametrize(
    ("deleted", "expected_read_backs"),
    [(199, 199), (200, 200), (201, SAMPLE_SIZE)],
    ids=["199-each-read-back", "200-each-read-back", "201-sampled"],
)
def test_real_deletions_around_200_are_read_back_one_by_one_or_sampled(
    linked: Callable[..., Linked], deleted: int, expected_read_backs: int
) -> None:
    """Case 45: up to 200 missing are each confirmed; 201 get a sample of 50. All applied."""
    assert CONFIRM_REMOVALS_UP_TO == 200
    account = linked(profiles=4000)
    full_sync(account)
    gone = delete_at_copernica(account, sorted(account.remote())[3::19][:deleted])
    account.sandbox.reset_stats()

    run = full_sync(account)

    assert run.state == "succeeded"
    assert run.removed_count == deleted
    assert removed_ids(account) == gone
    assert read_backs(account) == expected_read_backs
    assert run.error_message == ""


@pytest.mark.parametrize(
    ("deleted", "waits"),
    [(99, False), (100, False), (101, True)],
    ids=["9.9%-applied", "10%-applied", "10.1%-waits"],
)
def test_real_deletions_around_10_percent_wait_for_a_second_agreeing_run_above_it(
    linked: Callable[..., Linked], deleted: int, waits: bool
) -> None:
    """Case 45: more than 10% of the mirror (strictly) waits for a second agreeing run."""
    assert MASS_REMOVAL_SHARE == 0.10
    account = linked(profiles=1000)
    full_sync(account)
    gone = delete_at_copernica(account, sorted(account.remote())[::9][:deleted])

    first = full_sync(account)
    second = full_sync(account)

    if waits:
        assert (first.removed_count, first.pending_removals) == (0, deleted)
        assert "waits for a second full run" in first.error_message
        assert (second.removed_count, second.pending_removals) == (deleted, 0)
    else:
        assert (first.removed_count, first.pending_removals) == (deleted, 0)
        assert (second.removed_count, second.pending_removals) == (0, 0)
    assert removed_ids(account) == gone
    assert account.mirror() == account.remote()
    assert SyncSchedule.objects.get(link=account.link).pending_removal_fingerprint == ""


# ------------------------------------------------------------------ lists that lie


@pytest.mark.parametrize("short", [0.08, 0.5], ids=["8%-short", "50%-short"])
def test_an_id_list_short_of_copernicas_count_is_refused_and_removes_nothing(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch, short: float
) -> None:
    """Case 45 (issue 11's case at 8%): 4,000 profiles, the list served without 320 (or
    2,000) of them: it disagrees with Copernica's count, so nothing is removed."""
    account = linked(profiles=4000)
    full_sync(account)
    dropped = every_nth(sorted(account.remote()), int(4000 * short))

    with copernica_rewritten(monkeypatch, served=lambda ids: [i for i in ids if i not in dropped]):
        run = full_sync(account)

    assert run.state == "succeeded"
    assert (run.removed_count, run.pending_removals) == (0, 0)
    assert removed_ids(account) == set()
    assert f"held {4000 - len(dropped)} ids while Copernica counted 4000" in run.error_message


def test_an_id_list_with_ids_dropped_from_each_answer_is_refused_and_removes_nothing(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45, issue 11 as the proxy did it: 320 of 4,000 ids dropped from the answers. The
    offsets of later pages shift, the walk reads ids twice and the length nearly matches
    Copernica's count; the ids read twice give it away."""
    account = linked(profiles=4000)
    full_sync(account)
    dropped = every_nth(sorted(account.remote()), 320)

    with copernica_rewritten(monkeypatch, answers=lambda ids: [i for i in ids if i not in dropped]):
        run = full_sync(account)

    assert run.state == "succeeded"
    assert run.removed_count == 0
    assert removed_ids(account) == set()
    assert "twice; nothing was removed" in run.error_message


def test_an_id_list_8_percent_short_with_a_matching_count_is_caught_by_the_sample(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45: list and count both short by the same 320 (a count that lies along with the
    list): the 320 missing are sampled, the sample finds them live, none is removed."""
    account = linked(profiles=4000)
    full_sync(account)
    dropped = every_nth(sorted(account.remote()), 320)
    account.sandbox.reset_stats()

    with copernica_rewritten(
        monkeypatch,
        served=lambda ids: [i for i in ids if i not in dropped],
        total=lambda total: total - 320,
    ):
        run = full_sync(account)

    assert run.state == "succeeded"
    assert run.removed_count == 0
    assert removed_ids(account) == set()
    assert read_backs(account) == SAMPLE_SIZE
    assert "50 of 50 read back are still there" in run.error_message


def test_an_id_list_50_percent_short_with_a_matching_count_removes_nothing_in_two_runs(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45: the same half missing twice, count rewritten along: the second run agrees,
    and then the sample finds the profiles live."""
    account = linked(profiles=4000)
    full_sync(account)
    dropped = every_nth(sorted(account.remote()), 2000)
    rewrite = {
        "served": lambda ids: [i for i in ids if i not in dropped],
        "total": lambda total: total - 2000,
    }

    with copernica_rewritten(monkeypatch, **rewrite):
        first = full_sync(account)
    with copernica_rewritten(monkeypatch, **rewrite):
        second = full_sync(account)

    assert (first.removed_count, first.pending_removals) == (0, 2000)
    assert (second.removed_count, second.pending_removals) == (0, 0)
    assert "still there" in second.error_message
    assert removed_ids(account) == set()
    assert SyncSchedule.objects.get(link=account.link).pending_removal_fingerprint == ""


def test_a_sample_with_live_profiles_removes_only_those_it_confirmed(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45: 150 deleted for real and 150 live ones dropped from a list whose count
    agrees: 300 missing, the sample finds both kinds, only confirmed deletions go."""
    account = linked(profiles=4000)
    full_sync(account)
    ids = sorted(account.remote())
    gone = delete_at_copernica(account, ids[1::26][:150])
    dropped = {str(i) for i in ids[2::26][:150]}

    with copernica_rewritten(
        monkeypatch,
        served=lambda listed: [i for i in listed if i not in dropped],
        total=lambda total: total - 150,
    ):
        run = full_sync(account)

    removed = removed_ids(account)
    assert run.state == "succeeded"
    assert 0 < len(removed) < SAMPLE_SIZE
    assert removed <= gone  # 0 live profiles marked removed
    assert run.removed_count == len(removed)
    assert "300 of the profiles of database" in run.error_message
    assert f"only the {len(removed)} confirmed one by one were removed" in run.error_message


def test_a_wrong_count_refuses_the_list_until_an_honest_run(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 45: Copernica's count comes back 7 too high while 30 profiles are really gone:
    nothing is removed; the next run with an honest count removes the 30."""
    account = linked(profiles=2000)
    full_sync(account)
    gone = delete_at_copernica(account, sorted(account.remote())[::60][:30])

    with copernica_rewritten(monkeypatch, total=lambda total: total + 7):
        refused = full_sync(account)
    honest = full_sync(account)

    assert refused.state == "succeeded"
    assert refused.removed_count == 0
    assert "held 1970 ids while Copernica counted 1977" in refused.error_message
    assert honest.removed_count == 30
    assert removed_ids(account) == gone


def test_an_id_list_cut_mid_array_fails_the_step_and_the_retry_removes_only_deletions(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch, settings
) -> None:  # type: ignore[no-untyped-def]
    """Case 45: the body of an id-list answer breaks off mid-array: the client raises, the
    step fails without removing anything, and the next step finishes from the checkpoint."""
    settings.LINKER_RETRY_BASE_SECONDS = 0.01
    account = linked(profiles=3000)
    full_sync(account)
    gone = delete_at_copernica(account, sorted(account.remote())[::100][:30])

    with copernica_rewritten(monkeypatch, cut=2) as transport:
        run = full_sync(account)

    assert transport.cut == 0
    assert run.state == "succeeded"
    assert run.attempts == 3  # two steps failed on a cut answer
    assert run.removed_count == 30
    assert removed_ids(account) == gone
    assert account.mirror() == account.remote()


def test_an_id_list_always_cut_fails_the_run_and_removes_nothing(
    linked: Callable[..., Linked], monkeypatch: pytest.MonkeyPatch, settings
) -> None:  # type: ignore[no-untyped-def]
    """Case 45: every id-list answer breaks off: the run gives up cleanly, nothing removed."""
    settings.LINKER_RETRY_BASE_SECONDS = 0.01
    settings.LINKER_SYNC_MAX_ATTEMPTS = 3
    account = linked(profiles=2000)
    full_sync(account)
    delete_at_copernica(account, sorted(account.remote())[:10])

    with copernica_rewritten(monkeypatch, cut=1_000):
        run = full_sync(account)

    assert run.state == "failed"
    assert run.attempts == 3
    assert run.error_class == "UnexpectedResponseError"
    assert run.removed_count == 0
    assert RemoteProfile.objects.filter(link=account.link, removed_at=None).count() == 2000


def test_15_percent_deleted_for_real_are_applied_after_a_second_run_and_a_sample(
    linked: Callable[..., Linked],
) -> None:
    """Case 45: 300 of 2,000 deleted at Copernica between runs: the first run holds them back,
    the second agrees, reads back a sample of 50, and applies all 300."""
    account = linked(profiles=2000)
    full_sync(account)
    gone = delete_at_copernica(account, sorted(account.remote())[5::6][:300])

    first = full_sync(account)
    account.sandbox.reset_stats()
    second = full_sync(account)

    assert (first.removed_count, first.pending_removals) == (0, 300)
    assert removed_ids(account) == gone
    assert (second.removed_count, second.pending_removals) == (300, 0)
    assert read_backs(account) == SAMPLE_SIZE
    assert account.mirror() == account.remote()
    assert second.in_sync_label == "in sync: 1700 / 1700"
