"""A small local webhook receiver for the sandbox's deliveries, and helpers around it.

:class:`Receiver` is a ``http.server`` thread on ``127.0.0.1`` that puts every request it
gets on a queue and answers each with the next planned status (200 when none is planned).
Tests synchronise on :meth:`Receiver.next` (a queue get with a timeout) or on the sandbox's
``wait_webhooks``; nothing sleeps.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from api_client import CopernicaClient, HttpKeyLookup, VerifiedWebhook, WebhookVerifier
from api_client.sandbox.control import SandboxAccount, SandboxControl
from api_client.webhooks import parse_webhook_body

WAIT = 10.0


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    #: ``time.monotonic()`` when it arrived.
    at: float = 0.0

    @property
    def form(self) -> dict[str, Any]:
        return parse_webhook_body(self.body)


class Receiver:
    """Collects the calls made to ``url`` (any path under it)."""

    def __init__(self) -> None:
        self.calls: queue.Queue[Received] = queue.Queue()
        self.statuses: queue.Queue[int] = queue.Queue()
        #: While cleared, answers wait for it (a slow handler); set by default.
        self.release = threading.Event()
        self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                arrived = time.monotonic()
                receiver.calls.put(Received(self.command, self.path, headers, body, arrived))
                receiver.release.wait(WAIT * 3)
                try:
                    status = receiver.statuses.get_nowait()
                except queue.Empty:
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def next(self, timeout: float = WAIT) -> Received:
        """The next call, waiting up to ``timeout`` seconds for it."""
        try:
            return self.calls.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"No webhook call arrived within {timeout} s") from None

    def take(self, count: int) -> list[Received]:
        return [self.next() for _ in range(count)]

    def pending(self) -> list[Received]:
        """The calls received and not taken yet (after the sandbox said it is idle)."""
        items = []
        while True:
            try:
                items.append(self.calls.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """A receiver for this test (import ``receiver_fixture`` to use ``receiver``)."""
    server = Receiver()
    yield server
    server.close()


def sandbox_verifier(sandbox: SandboxControl, **options: Any) -> WebhookVerifier:
    """A verifier that trusts the sandbox's keys (by host and port) and fetches them."""
    options.setdefault("key_hosts", [sandbox.base_url.removeprefix("http://")])
    return WebhookVerifier(HttpKeyLookup(timeout=WAIT), **options)


def verify(
    verifier: WebhookVerifier, call: Received, account: SandboxAccount | str
) -> VerifiedWebhook:
    account_id = account if isinstance(account, str) else account.account_id
    return verifier.verify(
        method=call.method,
        target=call.target,
        headers=call.headers,
        body=call.body,
        account_id=account_id,
    )


@pytest.fixture(name="api_client")
def api_client_fixture(
    sandbox: SandboxControl,
) -> Iterator[Callable[[SandboxAccount], CopernicaClient]]:
    """Clients on sandbox accounts, closed after the test."""
    clients: list[CopernicaClient] = []

    def make(account: SandboxAccount) -> CopernicaClient:
        client = CopernicaClient(
            account.api_token,
            api_url=sandbox.api_url,
            auth_url=sandbox.auth_url,
            rest_url=sandbox.rest_url,
            timeout=WAIT,
            backoff_base=0.01,
            backoff_max=0.05,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def raw_jwt_client(sandbox: SandboxControl, account: SandboxAccount) -> httpx.Client:
    jwt = httpx.post(sandbox.auth_url, data={"access_token": account.api_token}).text
    return httpx.Client(
        base_url=sandbox.base_url, headers={"Authorization": f"Bearer {jwt}"}, timeout=WAIT
    )
