"""Retries, faults, JWT lifetime and revocation (reliability.md cases 21-23, 26-28)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from api_client import (
    AuthError,
    CachedJwt,
    CopernicaClient,
    MemoryTokenCache,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TokenRejectedError,
    TransportError,
)
from api_client.sandbox.control import SandboxControl
from tests.api_client.conftest import Recorder

MakeClient = Callable[..., CopernicaClient]


def test_503_four_times_then_200_succeeds_on_attempt_5_with_real_backoff(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Flaky", 1)
    recorder = Recorder()
    client = make_client(account.api_token, on_request=recorder, backoff_base=0.05, backoff_max=1)
    client.identity()
    sandbox.fault(path="/v4/identity", status=503, count=4)
    recorder.records.clear()
    started = time.monotonic()
    assert client.identity()["id"] == account.account_id
    elapsed = time.monotonic() - started
    assert [record.status for record in recorder.records] == [503, 503, 503, 503, 200]
    assert [record.attempt for record in recorder.records] == [1, 2, 3, 4, 5]
    assert elapsed < 0.05 + 0.1 + 0.2 + 0.4 + 1
    assert sandbox.stats()["requests"]["GET /v4/identity"] == 6


def test_backoff_is_exponential_with_full_jitter(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Flaky", 1)
    runs = []
    for _ in range(3):
        recorder = Recorder()
        client = make_client(
            account.api_token, sleep=recorder.sleep, backoff_base=0.5, backoff_max=3
        )
        sandbox.fault(path="/v4/identity", status=503, count=4)
        client.identity()
        assert len(recorder.waits) == 4
        for number, wait in enumerate(recorder.waits):
            assert 0 <= wait <= min(3, 0.5 * 2**number)
        runs.append(tuple(recorder.waits))
    assert len(set(runs)) == 3


def test_server_errors_beyond_max_retries_raise(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Down", 1)
    recorder = Recorder()
    client = make_client(account.api_token, on_request=recorder, max_retries=2)
    sandbox.fault(path="/v4/identity", status=504, count=10)
    with pytest.raises(ServerError) as caught:
        client.identity()
    assert caught.value.status == 504
    assert "<" not in str(caught.value)
    assert recorder.statuses("/v4/identity") == [504, 504, 504]


def test_429_waits_at_least_retry_after(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Busy", 1)
    recorder = Recorder()
    client = make_client(account.api_token, sleep=recorder.sleep, on_request=recorder)
    sandbox.fault(path="/v4/identity", status=429, retry_after=2, count=2)
    client.identity()
    assert recorder.waits
    assert all(wait >= 2 for wait in recorder.waits)
    assert recorder.statuses("/v4/identity") == [429, 429, 200]


def test_429_with_retry_after_above_the_limit_raises_at_once(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Busy", 1)
    recorder = Recorder()
    client = make_client(account.api_token, sleep=recorder.sleep, max_retry_after=60)
    sandbox.fault(path="/v4/identity", status=429, retry_after=3600)
    with pytest.raises(RateLimitedError) as caught:
        client.identity()
    assert caught.value.retry_after == 3600
    assert recorder.waits == []


def test_400_and_404_are_never_retried(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Strict", 1)
    recorder = Recorder()
    client = make_client(account.api_token, on_request=recorder, sleep=recorder.sleep)
    with pytest.raises(NotFoundError):
        client.get_profile(123)
    sandbox.fault(path="/v4/identity", status=404)
    with pytest.raises(NotFoundError) as caught:
        client.identity()
    assert caught.value.status == 404
    assert sandbox.stats()["requests"]["GET /v4/profile/{id}"] == 1
    assert sandbox.stats()["requests"]["GET /v4/identity"] == 1
    assert recorder.waits == []


def test_403_gets_one_fresh_jwt_then_raises(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Forbidden", 1)
    recorder = Recorder()
    client = make_client(account.api_token, on_request=recorder, sleep=recorder.sleep)
    sandbox.fault(path="/v4/identity", status=403, count=5)
    with pytest.raises(AuthError) as caught:
        client.identity()
    assert not isinstance(caught.value, TokenRejectedError)
    assert recorder.statuses("/v4/identity") == [403, 403]
    assert sandbox.stats()["auth_calls"] == 2
    assert recorder.waits == []


def test_post_is_not_retried_after_a_5xx(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Post", 1)
    client = make_client(account.api_token)
    sandbox.fault(method="POST", path="/v4/", status=503)
    with pytest.raises(ServerError):
        client.create_profile(account.database_id, {"email": "once@example.com"})
    assert sandbox.stats()["requests"]["POST /v4/database/{id}/profiles"] == 1


def test_post_whose_request_was_lost_raises_and_created_nothing(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Post", 1)
    client = make_client(account.api_token)
    sandbox.fault(method="POST", path="/v4/", drop="before")
    with pytest.raises(TransportError):
        client.create_profile(account.database_id, {"email": "lost@example.com"})
    assert client.find_profiles(account.database_id, {"email": "lost@example.com"}) == []


def test_post_whose_answer_was_lost_is_found_by_lookup_not_duplicated(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Post", 1)
    client = make_client(account.api_token)
    sandbox.fault(method="POST", path="/v4/", drop="after")
    with pytest.raises(TransportError):
        client.create_profile(account.database_id, {"email": "applied@example.com"})
    found = client.find_profiles(account.database_id, {"email": "applied@example.com"})
    assert len(found) == 1
    stats = sandbox.stats()
    assert stats["requests"]["POST /v4/database/{id}/profiles"] == 1
    assert stats["profiles_created"] == 1


def test_post_timeout_is_not_retried(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Slow", 1)
    client = make_client(account.api_token, timeout=0.3)
    client.identity()
    sandbox.fault(method="POST", path="/v4/", delay_ms=1000)
    with pytest.raises(RequestTimeoutError):
        client.create_profile(account.database_id, {"email": "slow@example.com"})
    assert sandbox.stats()["requests"]["POST /v4/database/{id}/profiles"] == 1


def test_get_timeout_and_dropped_connection_are_retried(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Slow", 1)
    recorder = Recorder()
    client = make_client(account.api_token, timeout=0.3, on_request=recorder)
    client.identity()
    recorder.records.clear()
    sandbox.fault(path="/v4/identity", delay_ms=1000)
    sandbox.fault(path="/v4/identity", drop="before")
    assert client.identity()["id"] == account.account_id
    assert recorder.statuses("/v4/identity") == [None, None, 200]


def test_hooks_run_for_every_attempt(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Hooks", 1)
    recorder = Recorder()
    calls: list[int] = []
    client = make_client(
        account.api_token, on_request=recorder, before_request=lambda: calls.append(1)
    )
    sandbox.fault(path="/v4/identity", status=502)
    client.identity()
    assert [(record.method, record.path, record.status) for record in recorder.records] == [
        ("POST", "/authenticate", 200),
        ("GET", "/v4/identity", 502),
        ("GET", "/v4/identity", 200),
    ]
    assert len(calls) == 3
    assert all(record.elapsed >= 0 for record in recorder.records)


def test_one_jwt_serves_many_calls(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Cache", 10)
    client = make_client(account.api_token)
    for _ in range(5):
        client.identity()
    assert sandbox.stats()["auth_calls"] == 1


def test_jwt_nearing_expiry_is_refreshed_once_during_paging(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Expiry", 2500)
    sandbox.fault(jwt_lifetime=3600)
    now = [time.time()]
    client = make_client(account.api_token, clock=lambda: now[0], refresh_margin=300)
    pages = client.paginate_keyset(account.database_id)
    first = next(pages)
    sandbox.fault(jwt_lifetime=86_400)
    now[0] += 3600 - 200  # the first JWT now has less than the margin left
    rest = list(pages)
    assert first.count + sum(page.count for page in rest) == 2500
    assert sandbox.stats()["auth_calls"] == 2


def test_jwt_expiring_at_copernica_mid_paging_costs_exactly_one_exchange(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Expiry", 2500)
    recorder = Recorder()
    client = make_client(account.api_token, on_request=recorder)
    seen = 0
    for number, page in enumerate(client.paginate_keyset(account.database_id)):
        seen += page.count
        if number == 0:
            sandbox.fault(expire_jwts=True)
    assert seen == 2500
    assert sandbox.stats()["auth_calls"] == 2
    assert recorder.statuses("/profiles").count(401) == 1


def test_jwt_lifetime_below_the_margin_is_exchanged_per_call(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Short", 1)
    sandbox.fault(jwt_lifetime=60)
    client = make_client(account.api_token, refresh_margin=300)
    client.identity()
    client.identity()
    assert sandbox.stats()["auth_calls"] == 2


def test_revoked_token_raises_token_rejected(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Revoked", 1)
    client = make_client(account.api_token)
    client.identity()
    sandbox.revoke(account.api_token)
    with pytest.raises(TokenRejectedError) as caught:
        client.identity()
    assert isinstance(caught.value, AuthError)
    assert caught.value.status == 401
    stats = sandbox.stats()
    assert stats["auth_calls"] == 2
    assert stats["requests"]["GET /v4/identity"] == 2


def test_unknown_token_raises_token_rejected_before_any_api_call(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    client = make_client("0" * 32)
    with pytest.raises(TokenRejectedError):
        client.identity()
    assert sandbox.stats()["api_calls"] == 0


def test_twenty_threads_share_one_exchange(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Crowd", 1)
    cache = MemoryTokenCache()
    clients = [make_client(account.api_token, token_cache=cache) for _ in range(20)]
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def work(client: CopernicaClient) -> None:
        barrier.wait()
        try:
            client.identity()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sandbox.stats()["auth_calls"] == 1
    assert sandbox.stats()["api_calls"] == 20


def test_discard_keeps_a_jwt_another_client_stored() -> None:
    cache = MemoryTokenCache()
    cache.set("k", CachedJwt("new", 10.0))
    cache.discard("k", "old")
    assert cache.get("k") == CachedJwt("new", 10.0)
    cache.discard("k", "new")
    assert cache.get("k") is None
