"""The sandbox's id lists (``profileids``, ``subprofileids``): offset paging and the cap, and
the rest host's "not streamed yet" switch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from api_client.sandbox.control import SandboxControl
from tests.api_client.conftest import RawApi

LISTS = ["profileids", "subprofileids"]


@pytest.fixture
def big(raw_factory: Callable[..., RawApi]) -> RawApi:
    """2500 profiles and a collection of 2500 subprofiles."""
    return raw_factory(2500, "Ids", collections=1, subprofiles=2500)


def _path(raw: RawApi, kind: str) -> str:
    if kind == "profileids":
        return f"/v4/database/{raw.db}/profileids"
    return f"/v4/collection/{raw.collection}/subprofileids"


def _ids(raw: RawApi, kind: str, **params: object) -> list[str]:
    response = raw.get(_path(raw, kind), params=params)
    assert response.status_code == 200
    document = response.json()
    assert isinstance(document, list)
    return document


@pytest.mark.parametrize("kind", LISTS)
def test_id_list_without_paging_parameters_answers_every_id_ascending(
    big: RawApi, kind: str
) -> None:
    ids = _ids(big, kind)
    assert len(ids) == len(set(ids)) == 2500
    assert ids == sorted(ids, key=int)


@pytest.mark.parametrize("kind", LISTS)
def test_id_list_pages_by_start_and_limit(big: RawApi, kind: str) -> None:
    everything = _ids(big, kind)
    assert _ids(big, kind, start=10, limit=5) == everything[10:15]
    assert _ids(big, kind, limit=3) == everything[:3]
    assert _ids(big, kind, start=2450) == everything[2450:]
    assert _ids(big, kind, start=2500, limit=10) == []
    paged: list[str] = []
    for start in range(0, 2600, 1000):
        paged += _ids(big, kind, start=start, limit=1000)
    assert paged == everything


@pytest.mark.parametrize("kind", LISTS)
def test_id_list_limit_defaults_to_100_and_caps_at_1000(big: RawApi, kind: str) -> None:
    everything = _ids(big, kind)
    assert _ids(big, kind, start=0) == everything[:100]
    assert _ids(big, kind, start=5, limit=5000) == everything[5:1005]


@pytest.mark.parametrize("kind", LISTS)
def test_id_list_with_a_negative_start_or_limit_is_empty(big: RawApi, kind: str) -> None:
    assert _ids(big, kind, start=-1, limit=10) == []
    assert _ids(big, kind, limit=-10) == []


@pytest.mark.parametrize("kind", LISTS)
def test_id_list_cap_shortens_only_an_unpaged_answer(
    big: RawApi, sandbox: SandboxControl, kind: str
) -> None:
    everything = _ids(big, kind)
    sandbox.set_options(id_list_cap=100)
    assert _ids(big, kind) == everything[:100]
    assert _ids(big, kind, start=0, limit=1000) == everything[:1000]
    assert _ids(big, kind, start=2000, limit=1000) == everything[2000:]
    sandbox.set_options(id_list_cap=None)
    assert _ids(big, kind) == everything


def test_id_list_pages_skip_removed_ids(big: RawApi) -> None:
    everything = _ids(big, "profileids")
    for profile_id in everything[:10:2]:
        big.http.delete(f"/v4/profile/{profile_id}")
    assert _ids(big, "profileids", start=0, limit=5) == everything[1:10:2]


# ---------------------------------------------------------------------------- not streamed yet


def test_unstreamed_rest_method_answers_at_most_1000_rows_in_one_body(
    big: RawApi, sandbox: SandboxControl
) -> None:
    sandbox.set_options(unstreamed=["database/{id}/profiles"])
    path = f"/rest/v4/database/{big.db}/profiles"
    response = big.get(path, params={"limit": 5000})
    assert "chunked" not in response.headers.get("transfer-encoding", "")
    document = response.json()
    assert (document["limit"], document["count"], document["total"]) == (1000, 1000, 2500)
    assert document["nextid"] == int(document["data"][-1]["ID"]) + 1
    subprofiles = big.get(
        f"/rest/v4/collection/{big.collection}/subprofiles", params={"limit": 2000}
    )
    assert subprofiles.headers["transfer-encoding"] == "chunked"
    assert subprofiles.json()["count"] == 2000
    sandbox.set_options(unstreamed=[])
    assert big.get(path, params={"limit": 5000}).json()["count"] == 2500


def test_unstreamed_subprofile_lists_cap_at_1000_on_the_rest_host(
    big: RawApi, sandbox: SandboxControl
) -> None:
    sandbox.set_options(unstreamed=["collection/{id}/subprofiles"])
    document = big.get(
        f"/rest/v4/collection/{big.collection}/subprofiles", params={"limit": 2000}
    ).json()
    assert (document["limit"], document["count"]) == (1000, 1000)
    assert (
        big.get(f"/rest/v4/database/{big.db}/profiles", params={"limit": 2000}).json()["count"]
        == 2000
    )
