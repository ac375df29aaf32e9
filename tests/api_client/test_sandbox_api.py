"""The sandbox's Copernica surface, checked with raw httpx against copernica-api.md."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable

import httpx

from api_client.sandbox.control import SandboxControl
from tests.api_client.conftest import RawApi

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _profiles(raw: RawApi, *params: tuple[str, str], path: str = "/v4") -> httpx.Response:
    return raw.get(f"{path}/database/{raw.db}/profiles", params=list(params))


def _ids(response: httpx.Response) -> list[int]:
    return [int(item["ID"]) for item in response.json()["data"]]


# ---------------------------------------------------------------------------- auth service


def test_authenticate_answers_a_bare_hs256_jwt_valid_for_24_hours(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 1)
    response = httpx.post(sandbox.auth_url, data={"access_token": account.api_token})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    header = json.loads(base64.urlsafe_b64decode(response.text.split(".")[0] + "=="))
    claims = _claims(response.text)
    assert header["alg"] == "HS256"
    assert claims["exp"] - claims["iat"] == 86_400
    assert claims["sub"] == account.account_id
    assert claims["jti"]


def test_authenticate_refuses_an_unknown_token_with_401_json(sandbox: SandboxControl) -> None:
    response = httpx.post(sandbox.auth_url, data={"access_token": "nope"})
    assert response.status_code == 401
    assert response.json() == {"error": {"message": "Invalid access token"}}


def test_authenticate_wants_a_post(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 1)
    response = httpx.get(sandbox.auth_url, params={"access_token": account.api_token})
    assert response.status_code == 400
    assert sandbox.stats()["jwts_issued"] == 0


def test_jwt_lifetime_fault_shortens_new_jwts(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 1)
    sandbox.fault(jwt_lifetime=60)
    jwt = httpx.post(sandbox.auth_url, data={"access_token": account.api_token}).text
    claims = _claims(jwt)
    assert claims["exp"] - claims["iat"] == 60
    assert sandbox.faults() == []


# ---------------------------------------------------------------------------- API auth


def test_api_without_jwt_is_401_with_bearer_challenge(sandbox: SandboxControl) -> None:
    response = httpx.get(f"{sandbox.api_url}/identity")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json() == {"error": {"message": "Invalid access token"}}


def test_api_with_a_forged_jwt_is_401(raw: RawApi) -> None:
    jwt = raw.http.headers["Authorization"].split()[1]
    forged = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
    response = httpx.get(
        f"{raw.base_url}/v4/identity", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid access token"


def test_api_token_in_the_url_is_rejected(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 1)
    response = httpx.get(f"{sandbox.api_url}/identity", params={"access_token": account.api_token})
    assert response.status_code == 401


def test_expired_jwt_is_401_access_token_expired(sandbox: SandboxControl) -> None:
    account = sandbox.create_account("Acme", 1)
    sandbox.fault(jwt_lifetime=0)
    jwt = httpx.post(sandbox.auth_url, data={"access_token": account.api_token}).text
    response = httpx.get(f"{sandbox.api_url}/identity", headers={"Authorization": f"Bearer {jwt}"})
    assert response.status_code == 401
    assert response.json() == {"error": {"message": "Access token expired"}}


def test_expire_jwts_fault_expires_jwts_already_issued(
    raw: RawApi, sandbox: SandboxControl
) -> None:
    assert raw.get("/v4/identity").status_code == 200
    sandbox.fault(expire_jwts=True)
    response = raw.get("/v4/identity")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Access token expired"


def test_revocation_takes_effect_at_once(raw: RawApi, sandbox: SandboxControl) -> None:
    sandbox.revoke(raw.account.api_token)
    assert raw.get("/v4/identity").json() == {"error": {"message": "Invalid access token"}}
    again = httpx.post(sandbox.auth_url, data={"access_token": raw.account.api_token})
    assert again.status_code == 401


# ---------------------------------------------------------------------------- account, databases


def test_identity_uses_lowercase_id_as_a_string(raw: RawApi) -> None:
    identity = raw.get("/v4/identity").json()
    assert list(identity) == ["id", "name", "description", "company"]
    assert identity["id"] == raw.account.account_id
    assert identity["name"] == "Acme"


def test_databases_envelope_has_keys_in_order_and_int_paging(raw: RawApi) -> None:
    document = raw.get("/v4/databases").json()
    assert list(document) == ["start", "limit", "count", "data", "total"]
    assert (document["start"], document["limit"], document["count"], document["total"]) == (
        0,
        100,
        1,
        1,
    )
    database = document["data"][0]
    assert database["ID"] == raw.db
    assert database["archived"] is False
    assert [field["name"] for field in database["fields"]["data"]] == [
        "email",
        "firstname",
        "lastname",
        "city",
        "age",
    ]
    assert database["fields"]["limit"] == 1000
    assert database["interests"]["count"] >= 3


def test_database_by_name_is_case_insensitive(raw: RawApi) -> None:
    name = raw.get(f"/v4/database/{raw.db}").json()["name"]
    assert raw.get(f"/v4/database/{name.upper()}").json()["ID"] == raw.db


def test_unknown_or_foreign_database_is_400_no_database(
    raw_factory: Callable[..., RawApi],
) -> None:
    mine, other = raw_factory(name="Mine"), raw_factory(name="Other")
    for path in ("/v4/database/999999", f"/v4/database/{other.db}/profiles"):
        response = mine.get(path)
        assert response.status_code == 400
        assert response.json() == {"error": {"message": "No database with supplied ID"}}


def test_fields_interests_and_collections_are_enveloped(raw: RawApi) -> None:
    for part, expected in (("fields", 5), ("interests", 5), ("collections", 0)):
        document = raw.get(f"/v4/database/{raw.db}/{part}").json()
        assert list(document) == ["start", "limit", "count", "data", "total"]
        assert document["count"] == expected
    age = raw.get(f"/v4/database/{raw.db}/fields").json()["data"][4]
    assert (age["name"], age["type"]) == ("age", "integer")


def test_unknown_path_is_invalid_method_and_paths_are_case_sensitive(raw: RawApi) -> None:
    for path in ("/v4/nothing", "/v4/PROFILE/100001", "/v4/identity/extra", "/v3/identity"):
        response = raw.get(path)
        assert response.status_code == 400, path
        assert response.json() == {"error": {"message": "Invalid method"}}


def test_path_without_its_id_names_the_missing_element(raw: RawApi) -> None:
    response = raw.get("/v4/profile")
    assert response.json() == {
        "error": {"message": "Invalid request, element 2 is missing in 'directory' path"}
    }


# ---------------------------------------------------------------------------- profile lists


def test_profile_list_envelope_keys_in_order_with_nextid(raw: RawApi) -> None:
    response = _profiles(raw, ("limit", "10"))
    document = response.json()
    assert response.headers["content-type"] == "application/json"
    assert list(document) == ["start", "limit", "count", "data", "nextid", "total"]
    assert document["count"] == len(document["data"]) == 10
    assert document["total"] == 25
    assert document["nextid"] == int(document["data"][-1]["ID"]) + 1


def test_profile_shape_is_strings_and_timestamps(raw: RawApi) -> None:
    profile = _profiles(raw, ("limit", "1")).json()["data"][0]
    assert list(profile) == [
        "ID",
        "fields",
        "interests",
        "database",
        "secret",
        "created",
        "modified",
        "removed",
    ]
    assert all(isinstance(value, str) for value in profile["fields"].values())
    assert profile["fields"]["email"].endswith(
        ("example.com", "example.nl", "example.org", "example.net")
    )
    assert re.fullmatch(r"[0-9a-f]{28}", profile["secret"])
    assert TIMESTAMP.match(profile["created"])
    assert TIMESTAMP.match(profile["modified"])
    assert profile["created"] <= profile["modified"] < time.strftime("%Y-%m-%d")
    assert profile["removed"] is False
    assert profile["database"] == raw.db


def test_last_page_has_no_nextid(raw: RawApi) -> None:
    document = _profiles(raw, ("start", "20"), ("limit", "10")).json()
    assert document["count"] == 5
    assert "nextid" not in document


def test_limit_is_capped_at_1000_on_the_api_host_and_echoed(
    raw_factory: Callable[..., RawApi],
) -> None:
    raw = raw_factory(1500)
    response = _profiles(raw, ("limit", "5000"))
    assert "chunked" not in response.headers.get("transfer-encoding", "")
    document = response.json()
    assert (document["limit"], document["count"]) == (1000, 1000)


def test_default_limit_is_100(raw_factory: Callable[..., RawApi]) -> None:
    document = _profiles(raw_factory(150)).json()
    assert (document["limit"], document["count"]) == (100, 100)


def test_total_false_omits_total_and_truthiness_follows_copernica(raw: RawApi) -> None:
    for value, present in (
        ("false", False),
        ("true", True),
        ("YES", True),
        ("2", True),
        ("-1", True),
        ("0", False),
        ("0.5", False),
        ("no", False),
        ("abc", False),
    ):
        document = _profiles(raw, ("total", value)).json()
        assert ("total" in document) is present, value


def test_negative_start_or_limit_gives_no_rows_and_echoes(raw: RawApi) -> None:
    document = _profiles(raw, ("start", "-5")).json()
    assert (document["start"], document["count"], document["data"]) == (-5, 0, [])
    document = _profiles(raw, ("limit", "-3")).json()
    assert (document["limit"], document["count"]) == (-3, 0)


def test_limit_true_reads_as_one_and_words_as_zero(raw: RawApi) -> None:
    assert _profiles(raw, ("limit", "true")).json()["count"] == 1
    document = _profiles(raw, ("limit", "many")).json()
    assert (document["limit"], document["count"]) == (0, 0)


def test_start_is_an_offset(raw: RawApi) -> None:
    all_ids = _ids(_profiles(raw))
    assert _ids(_profiles(raw, ("start", "3"), ("limit", "4"))) == all_ids[3:7]


def test_keyset_filter_on_id_pages_by_id(raw: RawApi) -> None:
    all_ids = _ids(_profiles(raw))
    response = _profiles(raw, ("fields[]", f"id>{all_ids[9]}"), ("limit", "5"), ("orderby", "id"))
    assert _ids(response) == all_ids[10:15]
    assert response.json()["total"] == 15


def test_filters_with_every_operator(raw: RawApi) -> None:
    everyone = _profiles(raw).json()["data"]
    sample = everyone[0]["fields"]
    ages = [int(item["fields"]["age"]) for item in everyone]

    def count(expression: str) -> int:
        return _profiles(raw, ("fields[]", expression)).json()["total"]

    age = int(sample["age"])
    assert count(f"age=={age}") == ages.count(age)
    assert count(f"age!={age}") == 25 - ages.count(age)
    assert count(f"age<>{age}") == 25 - ages.count(age)
    assert count(f"age<{age}") == sum(a < age for a in ages)
    assert count(f"age>{age}") == sum(a > age for a in ages)
    assert count(f"age<={age}") == sum(a <= age for a in ages)
    assert count(f"age>={age}") == sum(a >= age for a in ages)
    email = sample["email"]
    assert count(f"email=~{email[:4]}%") == sum(
        item["fields"]["email"].startswith(email[:4]) for item in everyone
    )
    assert count(f"email!~{email[:4]}%") == sum(
        not item["fields"]["email"].startswith(email[:4]) for item in everyone
    )
    assert count(f"email=~_{email[1:]}") == 1
    assert count(f"EMAIL=={email.upper()}") == 1


def test_filters_are_anded(raw: RawApi) -> None:
    everyone = _profiles(raw).json()["data"]
    city = everyone[0]["fields"]["city"]
    expected = [
        item
        for item in everyone
        if item["fields"]["city"] == city and int(item["fields"]["age"]) >= 30
    ]
    response = _profiles(raw, ("fields[]", f"city=={city}"), ("fields[]", "age>=30"))
    assert response.json()["total"] == len(expected)


def test_unknown_and_unparsable_filters_are_ignored(raw: RawApi) -> None:
    for expression in ("nosuchfield==1", "email = x", "email ==x", "garbage"):
        assert _profiles(raw, ("fields[]", expression)).json()["total"] == 25, expression


def test_special_fields_code_and_modified_filter(raw: RawApi) -> None:
    profile = _profiles(raw, ("limit", "1")).json()["data"][0]
    assert _ids(_profiles(raw, ("fields[]", f"code=={profile['secret']}"))) == [int(profile["ID"])]
    newer = _profiles(raw, ("fields[]", f"modified>={profile['modified']}")).json()
    assert all(item["modified"] >= profile["modified"] for item in newer["data"])
    assert int(profile["ID"]) in _ids(
        _profiles(raw, ("fields[0]", f"modified=={profile['modified']}"))
    )


def test_orderby_field_modified_desc_and_random(raw: RawApi) -> None:
    by_age = _profiles(raw, ("orderby", "age")).json()["data"]
    assert [int(p["fields"]["age"]) for p in by_age] == sorted(
        int(p["fields"]["age"]) for p in by_age
    )
    by_modified = _profiles(raw, ("orderby", "modified"), ("order", "DESC")).json()["data"]
    stamps = [p["modified"] for p in by_modified]
    assert stamps == sorted(stamps, reverse=True)
    assert "nextid" not in _profiles(raw, ("orderby", "modified"), ("limit", "5")).json()
    descending = _ids(_profiles(raw, ("order", "descending")))
    assert descending == sorted(descending, reverse=True)
    shuffled = _ids(_profiles(raw, ("orderby", "random")))
    assert sorted(shuffled) == sorted(descending)
    assert _ids(_profiles(raw, ("orderby", "nonsense"))) == sorted(descending)


def test_dataonly_keeps_id_fields_interests_modified(raw: RawApi) -> None:
    profile = _profiles(raw, ("dataonly", "true"), ("limit", "1")).json()["data"][0]
    assert list(profile) == ["ID", "fields", "interests", "modified"]


def test_rest_host_streams_profile_lists_above_1000(raw_factory: Callable[..., RawApi]) -> None:
    raw = raw_factory(2500)
    response = _profiles(raw, ("limit", "2000"), path="/rest/v4")
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    document = response.json()
    assert list(document) == ["start", "limit", "count", "data", "nextid", "total"]
    assert (document["limit"], document["count"], document["total"]) == (2000, 2000, 2500)
    assert len({item["ID"] for item in document["data"]}) == 2000


def test_rest_host_caps_other_lists_at_1000(raw: RawApi) -> None:
    document = raw.get(f"/rest/v4/database/{raw.db}/fields", params={"limit": 5000}).json()
    assert document["limit"] == 1000


def test_profileids_is_a_bare_array_of_strings(raw: RawApi) -> None:
    ids = raw.get(f"/v4/database/{raw.db}/profileids").json()
    assert isinstance(ids, list)
    assert len(ids) == 25
    assert all(isinstance(value, str) for value in ids)
    assert [int(value) for value in ids] == _ids(_profiles(raw))
