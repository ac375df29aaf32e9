"""The request budget per Copernica account (``linker.platform.ratelimit``), against Redis: a
session that keeps asking takes several tokens per round trip and returns what it did not use;
a 429 and the passing of time drop what it holds."""

from __future__ import annotations

import uuid

import pytest

from linker.platform import ratelimit
from linker.platform.locks import redis_client
from linker.platform.ratelimit import BudgetExhaustedError, RequestBudget


class Clock:
    """``time`` for the budget: ``monotonic`` moves only when told, ``time`` and ``sleep`` too."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    return clock


def _budget(clock: Clock, **options: float) -> RequestBudget:
    return RequestBudget(f"test-{uuid.uuid4().hex}", sleep=clock.sleep, **options)


def _tokens(budget: RequestBudget) -> float:
    client = redis_client()
    assert client is not None
    return float(client.hget(budget.key, "tokens"))


def _redis_calls(monkeypatch: pytest.MonkeyPatch, budget: RequestBudget) -> list[float]:
    """The ``most`` of every call the budget makes to Redis to take tokens."""
    calls: list[float] = []
    take_up_to = budget._take_up_to

    def counted(cost: float, most: float, *, force: bool = False) -> tuple[float, float]:
        calls.append(most)
        return take_up_to(cost, most, force=force)

    monkeypatch.setattr(budget, "_take_up_to", counted)
    return calls


def test_a_session_of_many_requests_takes_its_tokens_a_few_at_a_time(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = _budget(clock, rate=50, burst=100)
    calls = _redis_calls(monkeypatch, budget)

    for _ in range(62):
        budget.take()
    held = budget._reserve
    budget.give_back()

    # The first requests one by one, then up to RESERVE_MOST per call: 62 requests, 15 calls.
    assert calls[:4] == [1, 1, 1, 2]
    assert max(calls) == ratelimit.RESERVE_MOST
    assert len(calls) == 15
    # What it took ahead and did not use went back: the bucket lost exactly 62 tokens.
    assert held > 0
    assert _tokens(budget) == 100 - 62


def test_a_short_session_takes_its_tokens_one_by_one(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = _budget(clock, rate=50, burst=100)
    calls = _redis_calls(monkeypatch, budget)

    for _ in range(3):
        budget.take()
    budget.give_back()

    assert calls == [1, 1, 1]
    assert _tokens(budget) == 100 - 3


def test_tokens_taken_ahead_are_not_used_once_their_second_has_passed(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = _budget(clock, rate=50, burst=100)
    for _ in range(40):
        budget.take()
    assert budget._reserve > 0
    calls = _redis_calls(monkeypatch, budget)

    clock.now += ratelimit.RESERVE_SECONDS
    budget.take()
    budget.give_back()

    # The reserve was dropped: this request went to Redis, and nothing stale came back.
    assert len(calls) == 1
    assert budget._reserve == 0


def test_a_429_drops_the_tokens_taken_ahead(clock: Clock) -> None:
    budget = _budget(clock, rate=50, burst=100, max_wait=5)
    for _ in range(40):
        budget.take()
    assert budget._reserve > 0

    budget.hold_off(30)

    # Copernica said wait 30 s: the next request waits for the bucket, not for the reserve.
    with pytest.raises(BudgetExhaustedError):
        budget.take()
    assert budget._reserve == 0


def test_a_session_never_takes_more_than_the_bucket_holds(clock: Clock) -> None:
    """Near empty, a call takes what is there (at least one) and the session waits for more."""
    budget = _budget(clock, rate=10, burst=12)
    started = clock.now

    for _ in range(30):
        budget.take()
    budget.give_back()

    # 12 at once, then 18 more at 10 a second: at least 1.8 s of waiting, never a debt.
    assert clock.now - started >= 1.8
    assert _tokens(budget) >= 0


def test_without_redis_a_session_reserves_and_gives_back_in_its_process(
    clock: Clock, settings
) -> None:
    """The SQLite demo has no Redis: a bucket per process, with the same reserve."""
    settings.REDIS_URL = ""
    budget = _budget(clock, rate=50, burst=100)

    for _ in range(62):
        budget.take()
    assert budget._reserve > 0
    budget.give_back()

    assert ratelimit._local_buckets[budget.key].tokens == 100 - 62
