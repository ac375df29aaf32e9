"""A request budget per Copernica account, shared by every worker.

Each account has its own token bucket (in Redis, refilled continuously by a Lua script, so a
check-and-take is one atomic round trip); a huge tenant drains only its own bucket and cannot
starve the others. Without Redis (the SQLite demo) a bucket per process stands in.

The client calls :meth:`RequestBudget.take` before every HTTP attempt. A short wait is slept
in place; a long one raises :class:`BudgetExhaustedError` so the task can give its worker back
and come again later (Celery ``countdown``) instead of holding it while it sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings

from linker.platform.errors import LinkerError
from linker.platform.locks import redis_client

# KEYS[1] bucket; ARGV: rate per second, burst, now (seconds, float), cost, force (1: take
# even into debt, for a 429's Retry-After). Returns the milliseconds to wait (0: taken).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local force = tonumber(ARGV[5])
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
if tokens >= cost or force == 1 then
  tokens = tokens - cost
else
  wait = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return wait
"""


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

    @property
    def key(self) -> str:
        return f"budget:{self.account_key}"

    def try_take(self, cost: float = 1.0, *, force: bool = False) -> float:
        """Take ``cost`` tokens if available and return 0, else return the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        if self._script is not None:
            wait_ms = self._script(
                keys=[self.key], args=[self.rate, self.burst, time.time(), cost, int(force)]
            )
            return float(wait_ms) / 1000.0
        with _local_lock:
            bucket = _local_buckets.setdefault(self.key, _LocalBucket())
        with bucket.lock:
            now = time.monotonic()
            if bucket.tokens is None:
                bucket.tokens, bucket.at = self.burst, now
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= cost or force:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    def take(self) -> None:
        """Wait for one request's token; raise ``BudgetExhaustedError`` if that takes long."""
        while True:
            wait = self.try_take()
            if wait <= 0:
                return
            if wait > self.max_wait:
                raise BudgetExhaustedError(self.account_key, wait)
            self.waited += wait
            self._sleep(wait)

    def hold_off(self, seconds: float) -> None:
        """Empty the bucket for ``seconds`` (Copernica said 429 with ``Retry-After``)."""
        if seconds <= 0 or self.rate <= 0:
            return
        self.try_take(cost=self.burst + seconds * self.rate, force=True)


def account_key_for(link: object) -> str:
    """The budget key of a link: its Copernica account, or the link itself before identity."""
    account = getattr(link, "copernica_account_id", "") or ""
    api_url = getattr(link, "api_url", "") or ""
    return f"{account}@{api_url}" if account else f"link-{getattr(link, 'uid', '')}"
