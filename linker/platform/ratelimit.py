"""A request budget per Copernica account, shared by every worker.

Each account has its own token bucket (in Redis, refilled continuously by a Lua script, so a
check-and-take is one atomic round trip); a huge tenant drains only its own bucket and cannot
starve the others. Without Redis (the SQLite demo) a bucket per process stands in.

The client calls :meth:`RequestBudget.take` before every HTTP attempt. A short wait is slept
in place; a long one raises :class:`BudgetExhaustedError` so the task can give its worker back
and come again later (Celery ``countdown``) instead of holding it while it sleeps.

A session that keeps asking (a sync's walk: a request every few milliseconds) takes a few
tokens per round trip to Redis and keeps the rest for its next requests, for a moment only
(see ``RESERVE_MOST``); it gives back what it did not use when it ends.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings

from linker.platform.errors import LinkerError
from linker.platform.locks import redis_client

# KEYS[1] bucket; ARGV: rate per second, burst, now (seconds, float), cost, force (1: take
# even into debt, for a 429's Retry-After), most (take up to this many when more than ``cost``
# are there). Returns {the milliseconds to wait (0: taken), the tokens taken}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local force = tonumber(ARGV[5])
local most = tonumber(ARGV[6])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local wait = 0
local taken = 0
if tokens >= cost or force == 1 then
  taken = cost
  if most > cost and tokens >= most then
    taken = most
  elseif most > cost then
    taken = math.max(cost, math.floor(tokens))
  end
  tokens = tokens - taken
else
  wait = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {wait, taken}
"""
# KEYS[1] bucket; ARGV: burst, tokens. Tokens taken ahead and not used, back (up to the burst).
_GIVE_BACK = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil then
  redis.call('HSET', KEYS[1], 'tokens', math.min(tonumber(ARGV[1]), tokens + tonumber(ARGV[2])))
end
return 0
"""

#: The most tokens one call to Redis takes for a session's requests: the session asks for one
#: more each ``RESERVE_STEP`` requests, up to this many. A sync's walk makes a request every
#: few milliseconds, and a round trip to Redis for each was an eighth of its fetch thread's
#: time; a session of a few requests still takes its tokens one by one.
RESERVE_MOST = 8
RESERVE_STEP = 4
#: How long tokens taken ahead stay good: later, the bucket has refilled meanwhile and using
#: them would let the account go over its rate by as many.
RESERVE_SECONDS = 1.0


class BudgetExhaustedError(LinkerError):
    """The account's request budget is spent for longer than a task should sleep."""

    def __init__(self, account_key: str, retry_after: float) -> None:
        super().__init__(
            f"Copernica's request budget for account {account_key} is spent; "
            f"retrying in {retry_after:.1f} s."
        )
        self.retry_after = retry_after


class _LocalBucket:
    def __init__(self) -> None:
        self.tokens: float | None = None
        self.at = 0.0
        self.lock = threading.Lock()


_local_buckets: dict[str, _LocalBucket] = {}
_local_lock = threading.Lock()


class RequestBudget:
    """The token bucket of one Copernica account."""

    def __init__(
        self,
        account_key: str,
        *,
        rate: float | None = None,
        burst: float | None = None,
        max_wait: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account_key = account_key
        default_rate = getattr(settings, "LINKER_ACCOUNT_REQUESTS_PER_SECOND", 50.0)
        default_burst = getattr(settings, "LINKER_ACCOUNT_REQUEST_BURST", 100.0)
        self.rate = float(rate if rate is not None else default_rate)
        self.burst = float(burst if burst is not None else default_burst)
        self.max_wait = max_wait
        self.waited = 0.0
        self._sleep = sleep
        self._redis = redis_client()
        self._script = self._redis.register_script(_TAKE) if self._redis is not None else None
        self._give_back = (
            self._redis.register_script(_GIVE_BACK) if self._redis is not None else None
        )
        self._lock = threading.Lock()  # the reserve: the client's thread and the caller's
        self._reserve = 0  # tokens taken ahead, good until _reserved_at + RESERVE_SECONDS
        self._reserved_at = 0.0
        self._takes = 0

    @property
    def key(self) -> str:
        return f"budget:{self.account_key}"

    def try_take(self, cost: float = 1.0, *, force: bool = False) -> float:
        """Take ``cost`` tokens if available and return 0, else return the seconds to wait."""
        return self._take_up_to(cost, cost, force=force)[0]

    def _take_up_to(self, cost: float, most: float, *, force: bool = False) -> tuple[float, float]:
        """Take ``cost`` tokens, or up to ``most`` when there are more. → (the seconds to
        wait, 0 when taken; the tokens taken)."""
        if self.rate <= 0:
            return 0.0, cost
        if self._script is not None:
            wait_ms, taken = self._script(
                keys=[self.key],
                args=[self.rate, self.burst, time.time(), cost, int(force), most],
            )
            return float(wait_ms) / 1000.0, float(taken)
        with _local_lock:
            bucket = _local_buckets.setdefault(self.key, _LocalBucket())
        with bucket.lock:
            now = time.monotonic()
            if bucket.tokens is None:
                bucket.tokens, bucket.at = self.burst, now
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= cost or force:
                taken = max(cost, min(most, float(int(bucket.tokens))))
                bucket.tokens -= taken
                return 0.0, taken
            return (cost - bucket.tokens) / self.rate, 0.0

    def take(self) -> None:
        """Wait for one request's token; raise ``BudgetExhaustedError`` if that takes long."""
        with self._lock:
            self._takes += 1
            if self._reserve and time.monotonic() - self._reserved_at < RESERVE_SECONDS:
                self._reserve -= 1
                return
            self._reserve = 0
            most = min(RESERVE_MOST, 1 + self._takes // RESERVE_STEP)
            while True:
                wait, taken = self._take_up_to(1, most)
                if wait <= 0:
                    self._reserve = int(taken) - 1
                    self._reserved_at = time.monotonic()
                    return
                if wait > self.max_wait:
                    raise BudgetExhaustedError(self.account_key, wait)
                self.waited += wait
                self._sleep(wait)

    def give_back(self) -> None:
        """Return the tokens taken ahead and not used (at the end of a session)."""
        with self._lock:
            reserve, self._reserve = self._reserve, 0
            if not reserve or time.monotonic() - self._reserved_at >= RESERVE_SECONDS:
                return
        if self._give_back is not None:
            # Best effort: without Redis the tokens count as used, as if their requests were made.
            with contextlib.suppress(redis.RedisError):
                self._give_back(keys=[self.key], args=[self.burst, reserve])
            return
        with _local_lock:
            bucket = _local_buckets.get(self.key)
        if bucket is not None:
            with bucket.lock:
                if bucket.tokens is not None:
                    bucket.tokens = min(self.burst, bucket.tokens + reserve)

    def hold_off(self, seconds: float) -> None:
        """Empty the bucket for ``seconds`` (Copernica said 429 with ``Retry-After``), and
        drop the tokens this session took ahead."""
        with self._lock:
            self._reserve = 0
        if seconds <= 0 or self.rate <= 0:
            return
        self.try_take(cost=self.burst + seconds * self.rate, force=True)


def account_key_for(link: object) -> str:
    """The budget key of a link: its Copernica account, or the link itself before identity."""
    account = getattr(link, "copernica_account_id", "") or ""
    api_url = getattr(link, "api_url", "") or ""
    return f"{account}@{api_url}" if account else f"link-{getattr(link, 'uid', '')}"
