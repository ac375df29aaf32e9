"""The sandbox's profile writes (create, update, delete, interests, bulk updates), checked with
raw httpx against copernica-api.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from tests.api_client.conftest import RawApi
from tests.api_client.test_sandbox_api import _ids, _profiles

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _create(raw: RawApi, body: dict) -> httpx.Response:
    return raw.http.post(f"/v4/database/{raw.db}/profiles", json=body)


def test_create_answers_201_with_x_created_and_x_location(raw: RawApi) -> None:
    response = _create(raw, {"fields": {"email": "new@example.com"}, "interests": ["events"]})
    assert response.status_code == 201
    assert response.content == b""
    profile_id = response.headers["x-created"]
    assert response.headers["x-location"] == f"{raw.base_url}/v4/profile/{profile_id}"
    profile = raw.get(f"/v4/profile/{profile_id}").json()
    assert profile["fields"] == {
        "email": "new@example.com",
        "firstname": "",
        "lastname": "",
        "city": "",
        "age": "0",
    }
    assert profile["interests"] == ["events"]


def test_create_ignores_unknown_fields_coerces_and_matches_names_case_insensitively(
    raw: RawApi,
) -> None:
    response = _create(raw, {"fields": {"EMAIL": "a@b.nl", "age": "4x", "shoe": "42"}})
    fields = raw.get(f"/v4/profile/{response.headers['x-created']}").json()["fields"]
    assert (fields["email"], fields["age"]) == ("a@b.nl", "4")
    assert "shoe" not in fields


def test_create_with_non_object_fields_is_invalid_data(raw: RawApi) -> None:
    response = _create(raw, {"fields": ["x"]})
    assert response.status_code == 400
    assert response.json() == {"error": {"message": "Invalid data provided"}}


def test_create_accepts_a_form_body(raw: RawApi) -> None:
    response = raw.http.post(
        f"/v4/database/{raw.db}/profiles",
        data={"fields[email]": "form@example.com", "interests[]": "sports"},
    )
    assert response.status_code == 201
    profile = raw.get(f"/v4/profile/{response.headers['x-created']}").json()
    assert profile["fields"]["email"] == "form@example.com"
    assert profile["interests"] == ["sports"]


def test_put_profile_moves_modified_only_on_a_real_change(raw: RawApi) -> None:
    profile = _profiles(raw, ("limit", "1")).json()["data"][0]
    path = f"/v4/profile/{profile['ID']}"
    same = raw.http.put(path, json={"fields": {"city": profile["fields"]["city"]}})
    assert same.status_code == 204
    assert raw.get(path).json()["modified"] == profile["modified"]
    before = (datetime.now(ZoneInfo("Europe/Amsterdam")) - timedelta(seconds=1)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    raw.http.put(path, json={"fields": {"city": "Zierikzee"}})
    changed = raw.get(path).json()
    assert changed["fields"]["city"] == "Zierikzee"
    assert changed["modified"] >= before


def test_delete_soft_removes_and_second_delete_is_refused(raw: RawApi) -> None:
    profile_id = _ids(_profiles(raw, ("limit", "1")))[0]
    response = raw.http.delete(f"/v4/profile/{profile_id}")
    assert response.status_code == 204
    assert response.headers["x-deleted"] == f"profile {profile_id}"
    removed = raw.get(f"/v4/profile/{profile_id}")
    assert removed.status_code == 200
    assert TIMESTAMP.match(removed.json()["removed"])
    assert set(removed.json()["fields"].values()) == {""}
    assert profile_id not in _ids(_profiles(raw))
    assert str(profile_id) not in raw.get(f"/v4/database/{raw.db}/profileids").json()
    again = raw.http.delete(f"/v4/profile/{profile_id}")
    assert again.status_code == 400
    assert again.json() == {"error": {"message": "This profile has already been removed"}}


def test_unknown_profile_is_400_no_entity(raw_factory: Callable[..., RawApi]) -> None:
    mine, other = raw_factory(name="Mine"), raw_factory(5, name="Other")
    foreign = _ids(_profiles(other))[0]
    for path in ("/v4/profile/99999999", "/v4/profile/abc", f"/v4/profile/{foreign}"):
        response = mine.get(path)
        assert response.status_code == 400
        assert response.json() == {"error": {"message": "No entity with supplied ID"}}


def test_profile_fields_are_flat(raw: RawApi) -> None:
    profile_id = _ids(_profiles(raw, ("limit", "1")))[0]
    path = f"/v4/profile/{profile_id}/fields"
    assert raw.http.put(path, json={"firstname": "Floor"}).status_code == 204
    fields = raw.get(path).json()
    assert fields["firstname"] == "Floor"
    assert set(fields) == {"email", "firstname", "lastname", "city", "age"}


def test_interests_post_adds_put_replaces_map_switches(raw: RawApi) -> None:
    profile_id = _ids(_profiles(raw, ("limit", "1")))[0]
    path = f"/v4/profile/{profile_id}/interests"
    assert raw.http.put(path, json=["events"]).status_code == 204
    assert raw.get(path).json() == ["events"]
    assert raw.http.post(path, json=["sports"]).status_code == 204
    assert raw.get(path).json() == ["events", "sports"]
    raw.http.post(path, json={"events": 0, "newsletter": 1})
    assert raw.get(path).json() == ["newsletter", "sports"]
    objects = raw.get(path, params={"return": "objects"}).json()
    assert [item["name"] for item in objects] == ["newsletter", "sports"]
    assert set(objects[0]) == {"ID", "name", "group"}


def test_bulk_put_without_fields_parameter_is_refused(raw: RawApi) -> None:
    response = raw.http.put(f"/v4/database/{raw.db}/profiles", json={"fields": {"city": "X"}})
    assert response.status_code == 400
    assert response.json() == {"error": {"message": "URL parameter fields is required"}}


def test_bulk_put_updates_every_match(raw: RawApi) -> None:
    everyone = _profiles(raw).json()["data"]
    city = everyone[0]["fields"]["city"]
    matching = {item["ID"] for item in everyone if item["fields"]["city"] == city}
    response = raw.http.put(
        f"/v4/database/{raw.db}/profiles",
        params={"fields[]": f"city=={city}"},
        json={"fields": {"lastname": "Updated"}},
    )
    assert response.status_code == 204
    updated = _profiles(raw, ("fields[]", "lastname==Updated")).json()["data"]
    assert {item["ID"] for item in updated} == matching


def test_bulk_put_with_an_unknown_filter_updates_all_profiles(raw: RawApi) -> None:
    for expression in ("emial==nobody@example.com", ""):
        response = raw.http.put(
            f"/v4/database/{raw.db}/profiles",
            params={"fields[]": expression},
            json={"fields": {"city": f"Everywhere{len(expression)}"}},
        )
        assert response.status_code == 204
        city = f"Everywhere{len(expression)}"
        assert _profiles(raw, ("fields[]", f"city=={city}")).json()["total"] == 25


def test_bulk_put_create_creates_when_nothing_matches(raw: RawApi) -> None:
    params = {"fields[]": "email==fresh@example.com", "create": "1"}
    body = {"fields": {"email": "fresh@example.com", "city": "Lisse"}}
    created = raw.http.put(f"/v4/database/{raw.db}/profiles", params=params, json=body)
    assert created.status_code == 201
    assert (
        raw.get(f"/v4/profile/{created.headers['x-created']}").json()["fields"]["city"] == "Lisse"
    )
    again = raw.http.put(f"/v4/database/{raw.db}/profiles", params=params, json=body)
    assert again.status_code == 204
    assert _profiles(raw, ("fields[]", "email==fresh@example.com")).json()["total"] == 1
