"""Delivering webhook calls: a background thread, signed requests, retries, faults, stats.

A change in the sandbox enqueues one :class:`Delivery` per webhook it fires (under the state
lock, without I/O); one daemon thread sends them in order (``senders`` threads, out of order,
when the option asks for more), so no REST answer ever waits for a handler. Each call is
signed per draft-cavage-http-signatures-10 (:mod:`api_client.webhooks` verifies it):
``Date``, ``Host``, ``Digest: SHA-256=...``, ``X-Copernica-ID: account_<id>`` and
``Signature`` over ``(request-target) host date content-type content-length x-copernica-id
digest``. Choices the documentation leaves open, made here:

- The signed list is the documentation's five headers plus ``content-type`` and
  ``content-length``, which the reference verifier's README also requires.
- Retries: the documentation names none. A transport error, 408, 429 or 5xx is tried again
  after 1 s, 5 s and 30 s (``retry_delays_ms``); any other answer is final, so a receiver
  that refuses a call (401) is not hammered. Each try has a 5 s timeout (``timeout_ms``).
- A retry is signed afresh (a new ``Date``); a duplicate (fault) is the same bytes twice.

Faults (``set_faults``; each a count of the next deliveries it hits, optionally of one
webhook): ``drop`` (never sent), ``duplicate`` (sent twice), ``delay`` (held ``delay_ms``
while later ones go ahead), ``reorder`` (held until the next delivery was sent, then sent:
a swap; released after ``hold_ms`` if none follows), ``bad_signature`` (signed with a key
that is not published, under the real ``keyId``), ``stale_date`` (``Date`` ``stale_seconds``
in the past, correctly signed). Queue, faults, options and counters are not persisted.
"""

from __future__ import annotations

import email.utils
import heapq
import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from ..webhooks import body_digest, signing_string
from .clock import now_timestamp
from .webhook_keys import KEYS_PREFIX, WebhookKeyRing, new_private_key, sign_with

#: The headers each call's signature covers, in order.
SIGNED_HEADERS = (
    "(request-target)",
    "host",
    "date",
    "content-type",
    "content-length",
    "x-copernica-id",
    "digest",
)
FORM_TYPE = "application/x-www-form-urlencoded"
_RETRIED_STATUSES = frozenset({408, 429})
RECENT_DELIVERIES = 200


@dataclass
class DeliveryFaults:
    """Pending delivery faults: counts of the next deliveries each one hits."""

    drop: int = 0
    duplicate: int = 0
    delay: int = 0
    reorder: int = 0
    bad_signature: int = 0
    stale_date: int = 0
    delay_ms: int = 1000
    stale_seconds: int = 600
    webhook_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeliveryOptions:
    """How deliveries are sent: retry delays, the timeout of one try, the reorder hold."""

    retry_delays_ms: list[int] = field(default_factory=lambda: [1000, 5000, 30_000])
    timeout_ms: int = 5000
    hold_ms: int = 5000
    #: How many threads send at once; more than one sends faster but not in order.
    senders: int = 1

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Delivery:
    """One event for one webhook, with the form body made when the change happened."""

    webhook_id: int
    account_id: int
    handler: str
    body: bytes
    event: str
    generation: int
    tries: int = 0
    planned: bool = False
    duplicate: bool = False
    forged: str | None = None
    stale_seconds: int = 0


class WebhookDispatcher:
    """The delivery queue and its sending thread (started on the first delivery)."""

    def __init__(self, keys: WebhookKeyRing, key_base: Callable[[], str]) -> None:
        self.keys = keys
        self._key_base = key_base
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._held: tuple[Delivery, float] | None = None
        self._in_flight = 0
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._forger: rsa.RSAPrivateKey | None = None
        self.faults = DeliveryFaults()
        self.options = DeliveryOptions()
        self.counters: dict[int, Counter[str]] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_DELIVERIES)

    # ------------------------------------------------------------------ API

    def enqueue(
        self, webhook_id: int, account_id: int, handler: str, body: bytes, event: str
    ) -> None:
        """Queue one call; returns at once."""
        with self._cond:
            delivery = Delivery(webhook_id, account_id, handler, body, event, self._generation)
            self._push(time.monotonic(), delivery)
            self._count(webhook_id, "queued")
            while len(self._threads) < self.options.senders and not self._closed:
                thread = threading.Thread(
                    target=self._run,
                    args=(len(self._threads),),
                    name=f"sandbox-webhooks-{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()

    def clear(self) -> None:
        """Forget the queue, faults, options and counters (a control-API reset)."""
        with self._cond:
            self._heap.clear()
            self._held = None
            self._generation += 1
            self.faults = DeliveryFaults()
            self.options = DeliveryOptions()
            self.counters.clear()
            self.recent.clear()
            self._cond.notify_all()

    def reset_counters(self) -> None:
        with self._cond:
            self.counters.clear()
            self.recent.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued, held or being sent; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._heap and self._held is None and not self._in_flight, timeout
            )

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + (self._held is not None) + self._in_flight

    def stats_of(self, webhook_id: int) -> dict[str, int]:
        with self._cond:
            counter = self.counters.get(webhook_id, Counter())
            return {
                key: counter[key]
                for key in ("queued", "attempted", "succeeded", "failed", "dropped")
            }

    def recent_list(self, account_id: int | None = None) -> list[dict[str, Any]]:
        """The latest attempts, newest first (of one account when given)."""
        with self._cond:
            items = list(self.recent)
        items.reverse()
        return [item for item in items if account_id is None or item["account"] == account_id]

    def close(self) -> None:
        """Stop the thread; queued deliveries are not sent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)

    # ------------------------------------------------------------------ the thread

    def _run(self, index: int) -> None:
        with httpx.Client(trust_env=False, follow_redirects=False) as http:
            while True:
                with self._cond:
                    delivery = self._next(index)
                    if delivery is None:
                        return
                    batch = self._plan(delivery)
                    self._in_flight += 1
                try:
                    for item in batch:
                        self._send(http, item)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._cond.notify_all()

    def _next(self, index: int) -> Delivery | None:
        """The next delivery due (waiting for one); ``None`` once closed. Holds the lock.

        Sender ``index`` takes work only while the ``senders`` option counts it in."""
        while not self._closed:
            if index >= self.options.senders:
                self._cond.wait()
                continue
            now = time.monotonic()
            if self._held is not None and self._held[1] <= now:
                held, self._held = self._held[0], None
                return held
            if self._heap and self._heap[0][0] <= now:
                return heapq.heappop(self._heap)[2]
            due = [self._heap[0][0]] if self._heap else []
            if self._held is not None:
                due.append(self._held[1])
            self._cond.wait(min(due) - now if due else None)
        return None

    def _plan(self, delivery: Delivery) -> list[Delivery]:
        """Apply the faults to a delivery's first try: what to send now. Holds the lock."""
        if delivery.generation != self._generation:
            return []
        faults = self.faults
        if not delivery.planned:
            delivery.planned = True
            if faults.webhook_id in (None, delivery.webhook_id):
                if faults.drop:
                    faults.drop -= 1
                    self._count(delivery.webhook_id, "dropped")
                    self._note(delivery, "dropped", "drop")
                    return []
                if faults.bad_signature:
                    faults.bad_signature -= 1
                    delivery.forged = "bad_signature"
                elif faults.stale_date:
                    faults.stale_date -= 1
                    delivery.forged = "stale_date"
                    delivery.stale_seconds = faults.stale_seconds
                if faults.duplicate:
                    faults.duplicate -= 1
                    delivery.duplicate = True
                if faults.delay:
                    faults.delay -= 1
                    self._push(time.monotonic() + faults.delay_ms / 1000, delivery)
                    return []
                if faults.reorder and self._held is None:
                    faults.reorder -= 1
                    self._held = (delivery, time.monotonic() + self.options.hold_ms / 1000)
                    return []
        batch = [delivery]
        if self._held is not None and self._held[0] is not delivery:
            # The swap: the held delivery goes right after the one that overtook it.
            batch.append(self._held[0])
            self._held = None
        return batch

    def _send(self, http: httpx.Client, delivery: Delivery) -> None:
        try:
            headers = self._signed_headers(delivery)
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            # A handler httpx cannot address: a failure, never a dead sending thread.
            with self._cond:
                self._count(delivery.webhook_id, "failed")
                self._note(delivery, type(exc).__name__, "")
            return
        copies = 2 if delivery.duplicate and delivery.tries == 0 else 1
        delivery.tries += 1
        status: int | None = None
        for _ in range(copies):
            try:
                response = http.post(
                    delivery.handler,
                    content=delivery.body,
                    headers=headers,
                    timeout=self.options.timeout_ms / 1000,
                )
                status = response.status_code
                outcome = str(status)
            except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
                # Never lets the thread die: a handler that cannot be reached is a failure.
                status, outcome = None, type(exc).__name__
            with self._cond:
                if delivery.generation != self._generation:
                    return
                self._count(delivery.webhook_id, "attempted")
                ok = status is not None and 200 <= status < 300
                self._count(delivery.webhook_id, "succeeded" if ok else "failed")
                fault = delivery.forged or ("duplicate" if copies > 1 else "")
                self._note(delivery, outcome, fault)
        retried = status is None or status >= 500 or status in _RETRIED_STATUSES
        with self._cond:
            delays = self.options.retry_delays_ms
            current = delivery.generation == self._generation
            if retried and current and delivery.tries <= len(delays):
                self._push(time.monotonic() + delays[delivery.tries - 1] / 1000, delivery)

    def _signed_headers(self, delivery: Delivery) -> dict[str, str]:
        """The call's headers, signed over :data:`SIGNED_HEADERS`."""
        # The target and host exactly as httpx puts them on the wire (percent-encoded).
        url = httpx.URL(delivery.handler)
        headers = {
            "host": url.netloc.decode("ascii"),
            "date": email.utils.formatdate(time.time() - delivery.stale_seconds, usegmt=True),
            "content-type": FORM_TYPE,
            "content-length": str(len(delivery.body)),
            "x-copernica-id": f"account_{delivery.account_id}",
            "digest": body_digest(delivery.body),
        }
        target = url.raw_path.decode("ascii")
        text = signing_string(SIGNED_HEADERS, method="POST", target=target, headers=headers)
        key = self.keys.current
        signer = key.private_key
        if delivery.forged == "bad_signature":
            if self._forger is None:
                self._forger = new_private_key()
            signer = self._forger
        key_id = f"{self._key_base()}{KEYS_PREFIX}{key.selector}"
        headers["signature"] = (
            f'keyId="{key_id}",algorithm="rsa-sha256",'
            f'headers="{" ".join(SIGNED_HEADERS)}",signature="{sign_with(signer, text)}"'
        )
        return headers

    # ------------------------------------------------------------------ bookkeeping

    def _push(self, due: float, delivery: Delivery) -> None:
        heapq.heappush(self._heap, (due, next(self._order), delivery))
        self._cond.notify_all()

    def _count(self, webhook_id: int, key: str) -> None:
        self.counters.setdefault(webhook_id, Counter())[key] += 1

    def _note(self, delivery: Delivery, outcome: str, fault: str) -> None:
        self.recent.append(
            {
                "at": now_timestamp(),
                "webhook": delivery.webhook_id,
                "account": delivery.account_id,
                "handler": delivery.handler,
                "event": delivery.event,
                "try": delivery.tries,
                "outcome": outcome,
                "fault": fault,
            }
        )
