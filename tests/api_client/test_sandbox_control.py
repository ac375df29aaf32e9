"""The sandbox's control API, fault injection, data generation and scale."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from api_client.sandbox.control import SandboxControl
from tests.api_client.conftest import RawApi


def test_create_account_returns_ids_and_a_working_token(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Globex", 3)
    assert account.account_id.isdigit()
    assert account.database_id.isdigit()
    assert len(account.api_token) == 32
    listed = sandbox.accounts()
    assert [(item["name"], item["profiles"]) for item in listed] == [("Globex", 3)]
    jwt = httpx.post(sandbox.auth_url, data={"access_token": account.api_token})
    assert jwt.status_code == 200


def test_register_application_returns_client_credentials(sandbox: SandboxControl) -> None:
    response = httpx.post(
        f"{sandbox.base_url}/__sandbox__/applications",
        json={"name": "Linker", "redirect_uri": "http://localhost/callback"},
    )
    assert response.status_code == 201
    assert set(response.json()) == {"client_id", "client_secret"}


def test_revoke_answers_204_and_404_for_unknown_tokens(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 0)
    revoke = f"{sandbox.base_url}/__sandbox__/revoke"
    assert httpx.post(revoke, json={"access_token": account.api_token}).status_code == 204
    assert httpx.post(revoke, json={"access_token": "unknown"}).status_code == 404


def test_reset_returns_to_the_start_state(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 2)
    sandbox.fault(status=503, count=5)
    sandbox.reset()
    assert sandbox.accounts() == []
    assert sandbox.faults() == []
    assert httpx.post(sandbox.auth_url, data={"access_token": account.api_token}).status_code == 401


def test_generated_data_is_deterministic_across_resets(
    sandbox: SandboxControl, raw_factory: Callable[..., RawApi]
) -> None:
    first = raw_factory(50).get("/v4/database/501/profiles", params={"limit": 50}).json()["data"]
    sandbox.reset()
    again = raw_factory(50).get("/v4/database/501/profiles", params={"limit": 50}).json()["data"]
    assert first == again
    assert len({item["fields"]["email"] for item in first}) == 50
    assert len({item["fields"]["lastname"] for item in first}) > 10


def test_control_calls_are_not_counted_as_copernica_calls(
    raw: RawApi, sandbox: SandboxControl
) -> None:
    sandbox.reset_stats()
    raw.get("/v4/identity")
    raw.get(f"/v4/database/{raw.db}/profiles")
    sandbox.accounts()
    stats = sandbox.stats()
    assert stats["api_calls"] == 2
    assert stats["requests"] == {
        "GET /v4/identity": 1,
        "GET /v4/database/{id}/profiles": 1,
    }
    assert stats["api_calls_by_account"] == {raw.account.account_id: 2}
    assert stats["auth_calls"] == 0


def test_fault_503_answers_an_html_loadbalancer_page(raw: RawApi, sandbox: SandboxControl) -> None:
    sandbox.fault(path="/v4/identity", status=503, count=2)
    for _ in range(2):
        response = raw.get("/v4/identity")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert "Loadbalancer Error" in response.text
    assert raw.get("/v4/identity").status_code == 200
    assert sandbox.stats()["faults_applied"] == 2


def test_fault_matches_method_and_path_prefix(raw: RawApi, sandbox: SandboxControl) -> None:
    sandbox.fault(path="/v4/database/", method="PUT", status=502)
    assert raw.get(f"/v4/database/{raw.db}").status_code == 200
    assert raw.get("/v4/identity").status_code == 200
    put = raw.http.put(f"/v4/database/{raw.db}/profiles", params={"fields[]": "id==1"}, json={})
    assert put.status_code == 502


def test_fault_429_sends_retry_after_and_json(raw: RawApi, sandbox: SandboxControl) -> None:
    sandbox.fault(status=429, retry_after=7)
    response = raw.get("/v4/identity")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["message"]


def test_fault_delay_holds_the_answer(raw: RawApi, sandbox: SandboxControl) -> None:
    sandbox.fault(path="/v4/identity", delay_ms=300)
    started = time.monotonic()
    assert raw.get("/v4/identity").status_code == 200
    assert time.monotonic() - started >= 0.3
    sandbox.fault(path="/v4/identity", delay_ms=1000)
    with pytest.raises(httpx.ReadTimeout):
        raw.get("/v4/identity", timeout=0.2)


def test_drop_before_loses_the_request(raw: RawApi, sandbox: SandboxControl) -> None:
    sandbox.fault(method="POST", drop="before")
    with pytest.raises(httpx.RemoteProtocolError):
        raw.http.post(f"/v4/database/{raw.db}/profiles", json={"fields": {"email": "x@y.nl"}})
    assert sandbox.stats()["profiles_created"] == 0


def test_drop_after_applies_the_request_and_loses_the_answer(
    raw: RawApi, sandbox: SandboxControl
) -> None:
    sandbox.fault(method="POST", drop="after")
    with pytest.raises(httpx.RemoteProtocolError):
        raw.http.post(f"/v4/database/{raw.db}/profiles", json={"fields": {"email": "x@y.nl"}})
    assert sandbox.stats()["profiles_created"] == 1
    found = raw.get(f"/v4/database/{raw.db}/profiles", params={"fields[]": "email==x@y.nl"})
    assert found.json()["count"] == 1


def test_bad_fault_bodies_are_refused(sandbox: SandboxControl) -> None:
    url = f"{sandbox.base_url}/__sandbox__/faults"
    for body in ({"drop": "sideways"}, {"status": 200}, {"colour": "red"}, {"count": 0}):
        assert httpx.post(url, json=body).status_code == 400, body
    assert httpx.delete(url).status_code == 204


def test_million_profile_account_is_quick_to_create_and_page(
    sandbox: SandboxControl, raw_factory: Callable[..., RawApi]
) -> None:
    started = time.monotonic()
    raw = raw_factory(1_000_000)
    assert time.monotonic() - started < 5
    deep = raw.get(
        f"/v4/database/{raw.db}/profiles",
        params={"fields[]": "id>1000000", "orderby": "id", "limit": 1000, "total": "false"},
    )
    offset = raw.get(
        f"/v4/database/{raw.db}/profiles", params={"start": 899_000, "limit": 1000}
    ).json()
    assert deep.json()["count"] == 1000
    assert offset["count"] == 1000
    assert offset["total"] == 1_000_000
    assert int(offset["data"][0]["ID"]) == 100_001 + 899_000
    timings = []
    for start in (0, 500_000, 998_000):
        began = time.perf_counter()
        raw.get(f"/v4/database/{raw.db}/profiles", params={"start": start, "limit": 1000})
        timings.append(time.perf_counter() - began)
    assert max(timings) < 0.25


def test_removed_profiles_keep_offset_and_keyset_paging_exact(
    raw_factory: Callable[..., RawApi],
) -> None:
    raw = raw_factory(300)
    ids = raw.get(f"/v4/database/{raw.db}/profileids").json()
    gone = set(ids[5:300:7])
    for profile_id in gone:
        assert raw.http.delete(f"/v4/profile/{profile_id}").status_code == 204
    created = raw.http.post(f"/v4/database/{raw.db}/profiles", json={"fields": {}}).headers[
        "x-created"
    ]
    live = [value for value in ids if value not in gone] + [created]
    paged: list[str] = []
    for start in range(0, 400, 37):
        page = raw.get(
            f"/v4/database/{raw.db}/profiles", params={"start": start, "limit": 37}
        ).json()
        paged += [item["ID"] for item in page["data"]]
    assert paged == live
    keyset: list[str] = []
    last = 0
    while True:
        page = raw.get(
            f"/v4/database/{raw.db}/profiles",
            params={"fields[]": f"id>{last}", "limit": 50, "orderby": "id"},
        ).json()
        keyset += [item["ID"] for item in page["data"]]
        if page["count"] < 50:
            break
        last = int(page["data"][-1]["ID"])
    assert keyset == live
    assert (
        raw.get(f"/v4/database/{raw.db}/profiles", params={"order": "desc", "limit": 3}).json()[
            "data"
        ][0]["ID"]
        == created
    )


def test_concurrent_creates_get_distinct_ids(raw: RawApi, sandbox: SandboxControl) -> None:
    created: list[str] = []
    guard = threading.Lock()

    def worker(number: int) -> None:
        with httpx.Client(base_url=raw.base_url, headers=raw.http.headers) as http:
            for index in range(10):
                response = http.post(
                    f"/v4/database/{raw.db}/profiles",
                    json={"fields": {"email": f"w{number}-{index}@example.com"}},
                )
                with guard:
                    created.append(response.headers["x-created"])

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(created)) == 60
    assert sandbox.stats()["profiles_created"] == 60
    assert len(raw.get(f"/v4/database/{raw.db}/profileids").json()) == 85
