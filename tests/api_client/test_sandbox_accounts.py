"""Sandbox accounts with several databases, bulk profile removal, and Amsterdam timestamps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from api_client import CopernicaClient, format_timestamp, parse_timestamp
from api_client.sandbox.control import SandboxControl
from tests.api_client.conftest import RawApi

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WALL = "%Y-%m-%d %H:%M:%S"


def _amsterdam_now(shift: float = 0) -> str:
    return (datetime.now(AMSTERDAM) + timedelta(seconds=shift)).strftime(WALL)


# ---------------------------------------------------------------------------- layouts


def test_create_account_returns_every_database_and_collection_id(
    sandbox: SandboxControl,
) -> None:
    account = sandbox.create_account("Multi", 10, databases=3, collections=2, subprofiles=5)
    assert len(set(account.database_ids)) == 3
    assert account.database_id == account.database_ids[0]
    assert list(account.collection_ids) == account.database_ids
    collections = [item for ids in account.collection_ids.values() for item in ids]
    assert len(set(collections)) == 6


def test_a_plain_account_has_one_database_and_no_collections(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Plain", 5)
    assert account.database_ids == [account.database_id]
    assert account.collection_ids == {account.database_id: []}


def test_every_database_of_an_account_is_listed_and_holds_its_own_profiles(
    raw_factory: Callable[..., RawApi],
) -> None:
    raw = raw_factory(10, "Multi", databases=3, collections=1, subprofiles=20)
    listed = raw.get("/v4/databases").json()
    assert [item["ID"] for item in listed["data"]] == raw.account.database_ids
    assert [item["name"] for item in listed["data"]] == [
        "Multi contacts",
        "Multi contacts 2",
        "Multi contacts 3",
    ]
    seen: set[str] = set()
    for database_id in raw.account.database_ids:
        profiles = raw.get(f"/v4/database/{database_id}/profiles").json()["data"]
        assert {item["database"] for item in profiles} == {database_id}
        ids = {item["ID"] for item in profiles}
        assert len(ids) == 10
        assert ids.isdisjoint(seen)
        seen |= ids
        (collection,) = raw.account.collection_ids[database_id]
        owners = {
            item["profile"]
            for item in raw.get(f"/v4/collection/{collection}/subprofiles").json()["data"]
        }
        assert owners == ids
        one = next(iter(ids))
        assert raw.get(f"/v4/profile/{one}").json()["database"] == database_id


def test_databases_of_an_account_answer_by_name_and_others_do_not(
    raw_factory: Callable[..., RawApi],
) -> None:
    raw = raw_factory(2, "Multi", databases=2)
    other = raw_factory(2, "Other", databases=2)
    second = raw.account.database_ids[1]
    assert raw.get("/v4/database/MULTI CONTACTS 2").json()["ID"] == second
    for database_id in other.account.database_ids:
        response = raw.get(f"/v4/database/{database_id}/profiles")
        assert response.json() == {"error": {"message": "No database with supplied ID"}}


def test_the_accounts_list_counts_profiles_over_every_database(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Multi", 4, databases=3)
    (listed,) = sandbox.accounts()
    assert listed["profiles"] == 12
    assert listed["database_ids"] == account.database_ids
    assert listed["database_id"] == account.database_id


@pytest.mark.parametrize(
    "layout",
    [
        {"databases": 0},
        {"databases": "2"},
        {"collections": -1},
        {"profiles": 0, "collections": 1, "subprofiles": 5},
        {"subprofiles": 10_000_001},
    ],
)
def test_impossible_account_layouts_are_refused(
    sandbox: SandboxControl, layout: dict[str, object]
) -> None:
    body = {"name": "Bad", "profiles": 3, **layout}
    response = httpx.post(f"{sandbox.base_url}/__sandbox__/accounts", json=body)
    assert response.status_code == 400
    assert sandbox.accounts() == []


# ---------------------------------------------------------------------------- options

OFF = {"id_list_cap": None, "unstreamed": [], "clock": None}


def test_options_start_off_and_reset_turns_them_off(sandbox: SandboxControl) -> None:
    assert sandbox.options() == OFF
    changed = sandbox.set_options(id_list_cap=100, unstreamed=["database/{id}/profiles"])
    assert changed == {**OFF, "id_list_cap": 100, "unstreamed": ["database/{id}/profiles"]}
    assert sandbox.set_options(id_list_cap=None)["unstreamed"] == ["database/{id}/profiles"]
    sandbox.set_options(id_list_cap=5)
    sandbox.reset()
    assert sandbox.options() == OFF


@pytest.mark.parametrize(
    "body",
    [
        {"id_list_cap": -1},
        {"id_list_cap": "10"},
        {"unstreamed": ["database/{id}/fields"]},
        {"x": 1},
        {"clock": "2026-10-25 02:20:00"},
        {"clock": True},
    ],
)
def test_bad_options_are_refused(sandbox: SandboxControl, body: dict[str, object]) -> None:
    response = httpx.post(f"{sandbox.base_url}/__sandbox__/options", json=body)
    assert response.status_code == 400
    assert sandbox.options() == OFF


def test_a_set_clock_stamps_writes_in_amsterdam_time(
    sandbox: SandboxControl, make_client: Callable[..., CopernicaClient]
) -> None:
    """The second pass of the repeated autumn hour: 01:20 UTC is 02:20 in Amsterdam."""
    sandbox.set_options(clock=1_792_891_200.0)  # 2026-10-25 01:20:00 UTC
    account = sandbox.create_account("Clock", 3)
    client = make_client(account.api_token)
    profile_id = sorted(client.profile_ids(account.database_id))[0]
    client.update_profile(profile_id, {"firstname": "Late"})

    assert client.get_profile(profile_id)["modified"] == "2026-10-25 02:20:00"


# ---------------------------------------------------------------------------- DELETE profiles


def _profile_ids(raw: RawApi, database_id: str | None = None) -> list[str]:
    return list(raw.get(f"/v4/database/{database_id or raw.db}/profileids").json())


def test_delete_database_profiles_soft_removes_the_listed_profiles_and_their_subprofiles(
    raw_factory: Callable[..., RawApi], sandbox: SandboxControl
) -> None:
    raw = raw_factory(10, "Bulk", collections=1, subprofiles=20)
    ids = _profile_ids(raw)
    gone = [int(ids[1]), ids[4], int(ids[9])]
    response = raw.http.request(
        "DELETE", f"/v4/database/{raw.db}/profiles", json={"profiles": gone}
    )
    assert response.status_code == 204
    assert _profile_ids(raw) == [value for value in ids if value not in {str(v) for v in gone}]
    for profile_id in gone:
        assert raw.get(f"/v4/profile/{profile_id}").json()["removed"]
    owners = {
        item["profile"]
        for item in raw.get(f"/v4/collection/{raw.collection}/subprofiles").json()["data"]
    }
    assert owners == set(_profile_ids(raw))
    assert sandbox.stats()["profiles_deleted"] == 3


def test_delete_database_profiles_skips_ids_that_are_not_live_profiles_of_that_database(
    raw_factory: Callable[..., RawApi], sandbox: SandboxControl
) -> None:
    raw = raw_factory(5, "Bulk", databases=2)
    stranger = raw_factory(5, "Stranger")
    second = raw.account.database_ids[1]
    ids, others, foreign = _profile_ids(raw), _profile_ids(raw, second), _profile_ids(stranger)
    raw.http.delete(f"/v4/profile/{ids[0]}")
    sandbox.reset_stats()
    listed = [ids[0], others[0], foreign[0], 99_999_999, "abc", None, ids[2], ids[2]]
    response = raw.http.request(
        "DELETE", f"/v4/database/{raw.db}/profiles", json={"profiles": listed}
    )
    assert response.status_code == 204
    assert _profile_ids(raw) == [ids[1], ids[3], ids[4]]
    assert _profile_ids(raw, second) == others
    assert _profile_ids(stranger) == foreign
    assert sandbox.stats()["profiles_deleted"] == 1


@pytest.mark.parametrize("body", [None, {"profiles": 5}, {"ids": [1]}, [1, 2]])
def test_delete_database_profiles_needs_a_profiles_array(raw: RawApi, body: object) -> None:
    response = raw.http.request("DELETE", f"/v4/database/{raw.db}/profiles", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": {"message": "Invalid data provided"}}
    assert len(_profile_ids(raw)) == 25


# ---------------------------------------------------------------------------- timestamps


def test_sandbox_writes_timestamps_on_amsterdams_wall_clock(
    raw_factory: Callable[..., RawApi],
) -> None:
    raw = raw_factory(3, "Clock", collections=1, subprofiles=3)
    before = _amsterdam_now(-1)
    created = raw.http.post(f"/v4/database/{raw.db}/profiles", json={"fields": {"city": "Ede"}})
    profile_id = created.headers["x-created"]
    subprofile_id = raw.http.post(
        f"/v4/profile/{profile_id}/subprofiles/{raw.collection}", json={"status": "new"}
    ).headers["x-created"]
    raw.http.put(f"/v4/subprofile/{subprofile_id}", json={"fields": {"status": "paid"}})
    raw.http.delete(f"/v4/profile/{profile_id}")
    after = _amsterdam_now(1)
    profile = raw.get(f"/v4/profile/{profile_id}").json()
    subprofile = raw.get(f"/v4/subprofile/{subprofile_id}").json()
    stamps = [profile[key] for key in ("created", "modified", "removed")]
    stamps += [subprofile[key] for key in ("created", "modified", "removed")]
    assert all(before <= stamp <= after for stamp in stamps), (before, stamps, after)


def test_modified_filter_compares_amsterdam_wall_clock_strings(raw: RawApi) -> None:
    profile_id = _profile_ids(raw)[3]
    raw.http.put(f"/v4/profile/{profile_id}", json={"fields": {"city": "Urk"}})
    # Half an hour from now on a UTC clock is still earlier than now in Amsterdam.
    utc_soon = (datetime.now(UTC) + timedelta(minutes=30)).strftime(WALL)
    for bound, expected in ((utc_soon, [profile_id]), (_amsterdam_now(60), [])):
        response = raw.get(
            f"/v4/database/{raw.db}/profiles", params={"fields[]": f"modified>={bound}"}
        )
        assert [item["ID"] for item in response.json()["data"]] == expected, bound


def test_generated_timestamps_exist_on_amsterdams_clock(
    raw_factory: Callable[..., RawApi],
) -> None:
    raw = raw_factory(20_000, "Clock", collections=1, subprofiles=20_000)
    stamps: list[str] = []
    for path in (f"/v4/database/{raw.db}/profiles", f"/v4/collection/{raw.collection}/subprofiles"):
        for start in range(0, 20_000, 1000):
            page = raw.get(path, params={"start": start, "limit": 1000, "total": "false"}).json()
            stamps += [
                stamp for item in page["data"] for stamp in (item["created"], item["modified"])
            ]
    assert len(stamps) == 80_000
    # A UTC clock would put a few of these in the hour Amsterdam skips each spring.
    moments = [parse_timestamp(stamp) for stamp in stamps]
    assert [format_timestamp(moment) for moment in moments if moment] == stamps
