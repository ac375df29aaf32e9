"""The sandbox's collections and subprofiles, checked with raw httpx against Copernica's docs
(rest-get-collection*.md, rest-*-subprofile*.md, rest-post-profile-subprofiles.md)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from api_client.sandbox.control import SandboxControl
from tests.api_client.conftest import RawApi

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
SUBPROFILE_KEYS = [
    "ID",
    "secret",
    "fields",
    "profile",
    "collection",
    "created",
    "modified",
    "removed",
]
ORDER_FIELDS = ["order_number", "product", "quantity", "amount", "status"]


@pytest.fixture
def shop(raw_factory: Callable[..., RawApi]) -> RawApi:
    """An account of 20 profiles with 3 collections of 60 subprofiles each."""
    return raw_factory(20, "Shop", collections=3, subprofiles=60)


def _subprofiles(raw: RawApi, *params: tuple[str, str], path: str = "/v4") -> httpx.Response:
    return raw.get(f"{path}/collection/{raw.collection}/subprofiles", params=list(params))


def _ids(response: httpx.Response) -> list[int]:
    return [int(item["ID"]) for item in response.json()["data"]]


def _error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"]["message"])


# ---------------------------------------------------------------------------- collections


def test_database_collections_are_an_envelope_of_collection_objects(shop: RawApi) -> None:
    document = shop.get(f"/v4/database/{shop.db}/collections").json()
    assert list(document) == ["start", "limit", "count", "data", "total"]
    assert [item["name"] for item in document["data"]] == ["orders", "visits", "tickets"]
    assert [item["ID"] for item in document["data"]] == shop.account.collection_ids[shop.db]
    for item in document["data"]:
        assert list(item) == ["ID", "name", "database", "fields", "intentions"]
        assert item["database"] == shop.db


def test_databases_embed_their_real_collections(shop: RawApi) -> None:
    listed = shop.get("/v4/databases").json()["data"][0]["collections"]
    single = shop.get(f"/v4/database/{shop.db}").json()["collections"]
    assert listed == single
    assert (single["count"], single["total"]) == (3, 3)
    assert single["data"] == shop.get(f"/v4/database/{shop.db}/collections").json()["data"]


def test_collection_object_holds_its_fields_envelope_and_intentions(shop: RawApi) -> None:
    collection = shop.get(f"/v4/collection/{shop.collection}").json()
    assert list(collection) == ["ID", "name", "database", "fields", "intentions"]
    assert (collection["ID"], collection["name"]) == (shop.collection, "orders")
    assert list(collection["fields"]) == ["start", "limit", "count", "data", "total"]
    assert [field["name"] for field in collection["fields"]["data"]] == ORDER_FIELDS
    assert collection["intentions"] == {"email": False, "sms": False, "fax": False, "pdf": False}


def test_collection_fields_are_a_paged_envelope_of_field_objects(shop: RawApi) -> None:
    document = shop.get(f"/v4/collection/{shop.collection}/fields").json()
    assert list(document) == ["start", "limit", "count", "data", "total"]
    assert [(field["name"], field["type"]) for field in document["data"]] == [
        ("order_number", "integer"),
        ("product", "text"),
        ("quantity", "integer"),
        ("amount", "float"),
        ("status", "text"),
    ]
    assert set(document["data"][0]) == {
        "ID",
        "name",
        "type",
        "value",
        "displayed",
        "ordered",
        "length",
        "textlines",
        "hidden",
        "index",
    }
    page = shop.get(f"/v4/collection/{shop.collection}/fields", params={"start": 3}).json()
    assert [field["name"] for field in page["data"]] == ["amount", "status"]


def test_unknown_or_foreign_collection_is_400_no_collection(
    shop: RawApi, raw_factory: Callable[..., RawApi]
) -> None:
    other = raw_factory(3, "Other", collections=1, subprofiles=3)
    for ident in ("999999", "abc", "orders", other.collection):
        for tail in ("", "/fields", "/subprofiles", "/subprofileids"):
            response = shop.get(f"/v4/collection/{ident}{tail}")
            assert _error(response) == "No collection with given ID", (ident, tail)


def test_collection_path_without_its_id_names_the_missing_element(shop: RawApi) -> None:
    for path in ("/v4/collection", "/v4/subprofile"):
        assert _error(shop.get(path)) == (
            "Invalid request, element 2 is missing in 'directory' path"
        )


def test_collection_writes_and_unknown_tails_are_invalid_methods(shop: RawApi) -> None:
    assert _error(shop.http.put(f"/v4/collection/{shop.collection}", json={})) == "Invalid method"
    assert _error(shop.get(f"/v4/collection/{shop.collection}/nothing")) == "Invalid method"


# ---------------------------------------------------------------------------- subprofile lists


def test_subprofile_list_envelope_keys_in_order_with_nextid(shop: RawApi) -> None:
    document = _subprofiles(shop, ("limit", "10")).json()
    assert list(document) == ["start", "limit", "count", "data", "nextid", "total"]
    assert (document["count"], document["total"]) == (10, 60)
    assert document["nextid"] == int(document["data"][-1]["ID"]) + 1
    last = _subprofiles(shop, ("start", "55"), ("limit", "10")).json()
    assert last["count"] == 5
    assert "nextid" not in last


def test_subprofile_shape_follows_the_documentation(shop: RawApi) -> None:
    profile_ids = set(shop.get(f"/v4/database/{shop.db}/profileids").json())
    for item in _subprofiles(shop, ("limit", "30")).json()["data"]:
        assert list(item) == SUBPROFILE_KEYS
        assert list(item["fields"]) == ORDER_FIELDS
        assert all(isinstance(value, str) for value in item["fields"].values())
        assert item["profile"] in profile_ids
        assert item["collection"] == shop.collection
        assert re.fullmatch(r"[0-9a-f]{28}", item["secret"])
        assert TIMESTAMP.match(item["created"])
        assert TIMESTAMP.match(item["modified"])
        assert item["created"] <= item["modified"]
        assert item["removed"] is False


def test_subprofiles_are_spread_over_the_profiles_of_the_database(shop: RawApi) -> None:
    owners = [item["profile"] for item in _subprofiles(shop, ("limit", "60")).json()["data"]]
    assert len(set(owners)) == 20
    assert all(owners.count(owner) == 3 for owner in owners)


def test_generated_subprofiles_are_deterministic_across_resets(
    sandbox: SandboxControl, raw_factory: Callable[..., RawApi]
) -> None:
    first = raw_factory(5, "Same", collections=2, subprofiles=20)
    before = _subprofiles(first, ("limit", "20")).json()["data"]
    sandbox.reset()
    again = raw_factory(5, "Same", collections=2, subprofiles=20)
    assert _subprofiles(again, ("limit", "20")).json()["data"] == before
    assert len({item["fields"]["order_number"] for item in before}) == 20


def test_subprofile_list_pages_by_offset_and_by_id(shop: RawApi) -> None:
    everything = _ids(_subprofiles(shop, ("limit", "100")))
    assert everything == sorted(everything)
    assert _ids(_subprofiles(shop, ("start", "7"), ("limit", "5"))) == everything[7:12]
    keyset = _subprofiles(
        shop, ("fields[]", f"id>{everything[19]}"), ("orderby", "id"), ("limit", "5")
    )
    assert _ids(keyset) == everything[20:25]
    assert keyset.json()["total"] == 40


def test_subprofile_filters_on_fields_code_and_modified(shop: RawApi) -> None:
    everyone = _subprofiles(shop, ("limit", "100")).json()["data"]
    sample = everyone[0]

    def ids(*expressions: str) -> list[str]:
        params = [("fields[]", expression) for expression in expressions]
        return [item["ID"] for item in _subprofiles(shop, *params, ("limit", "100")).json()["data"]]

    status = sample["fields"]["status"]
    assert ids(f"status=={status}") == [
        item["ID"] for item in everyone if item["fields"]["status"] == status
    ]
    assert ids("amount>100", "quantity<=3") == [
        item["ID"]
        for item in everyone
        if float(item["fields"]["amount"]) > 100 and int(item["fields"]["quantity"]) <= 3
    ]
    assert ids(f"code=={sample['secret']}") == [sample["ID"]]
    assert ids(f"modified>={sample['modified']}") == [
        item["ID"] for item in everyone if item["modified"] >= sample["modified"]
    ]
    assert len(ids("nosuchfield==1")) == 60


def test_subprofile_ordering_and_dataonly(shop: RawApi) -> None:
    by_amount = _subprofiles(shop, ("orderby", "amount"), ("limit", "100")).json()["data"]
    amounts = [float(item["fields"]["amount"]) for item in by_amount]
    assert amounts == sorted(amounts)
    descending = _ids(_subprofiles(shop, ("order", "desc"), ("limit", "100")))
    assert descending == sorted(descending, reverse=True)
    by_modified = _subprofiles(shop, ("orderby", "modified"), ("limit", "100")).json()["data"]
    assert [item["modified"] for item in by_modified] == sorted(
        item["modified"] for item in by_modified
    )
    item = _subprofiles(shop, ("dataonly", "true"), ("limit", "1")).json()["data"][0]
    assert list(item) == ["ID", "fields", "profile", "collection", "modified"]


def test_subprofile_lists_cap_at_1000_on_the_api_host_and_stream_on_rest(
    raw_factory: Callable[..., RawApi],
) -> None:
    raw = raw_factory(100, "Big", collections=1, subprofiles=2500)
    capped = _subprofiles(raw, ("limit", "5000"))
    assert "chunked" not in capped.headers.get("transfer-encoding", "")
    assert (capped.json()["limit"], capped.json()["count"]) == (1000, 1000)
    streamed = _subprofiles(raw, ("limit", "2000"), path="/rest/v4")
    assert streamed.headers["transfer-encoding"] == "chunked"
    document = streamed.json()
    assert (document["limit"], document["count"], document["total"]) == (2000, 2000, 2500)


def test_subprofileids_is_a_bare_array_of_the_listed_ids(shop: RawApi) -> None:
    ids = shop.get(f"/v4/collection/{shop.collection}/subprofileids").json()
    assert all(isinstance(value, str) for value in ids)
    assert [int(value) for value in ids] == _ids(_subprofiles(shop, ("limit", "100")))


def test_collections_of_one_database_hold_different_subprofiles(shop: RawApi) -> None:
    first, second, _ = shop.account.collection_ids[shop.db]
    visits = shop.get(f"/v4/collection/{second}/subprofiles", params={"limit": 1}).json()
    assert list(visits["data"][0]["fields"]) == ["page", "channel", "duration", "device"]
    orders = set(shop.get(f"/v4/collection/{first}/subprofileids").json())
    assert orders.isdisjoint(shop.get(f"/v4/collection/{second}/subprofileids").json())


# ------------------------------------------------------------------------ profile/{id}/subprofiles


def _a_profile(raw: RawApi) -> str:
    return str(raw.get(f"/v4/database/{raw.db}/profileids").json()[4])


def test_profile_subprofiles_by_collection_id_or_name(shop: RawApi) -> None:
    profile_id = _a_profile(shop)
    document = shop.get(f"/v4/profile/{profile_id}/subprofiles/{shop.collection}").json()
    assert list(document) == ["start", "limit", "count", "data", "total"]
    assert document["count"] == 3
    assert {item["profile"] for item in document["data"]} == {profile_id}
    assert [list(item) for item in document["data"]] == [SUBPROFILE_KEYS] * 3
    by_name = shop.get(f"/v4/profile/{profile_id}/subprofiles/ORDERS").json()
    assert by_name["data"] == document["data"]
    page = shop.get(f"/v4/profile/{profile_id}/subprofiles/orders", params={"start": 2}).json()
    assert page["data"] == document["data"][2:]


def test_profile_subprofiles_need_a_collection_of_the_profiles_database(
    shop: RawApi, raw_factory: Callable[..., RawApi]
) -> None:
    profile_id = _a_profile(shop)
    missing = shop.get(f"/v4/profile/{profile_id}/subprofiles")
    assert _error(missing) == "Invalid request, element 3 is missing in 'directory' path"
    other = raw_factory(3, "Other", collections=1, subprofiles=3)
    for ident in ("999999", "nothing", other.collection):
        response = shop.get(f"/v4/profile/{profile_id}/subprofiles/{ident}")
        assert _error(response) == "No collection with given ID"


def test_create_subprofile_answers_201_with_x_created_and_x_location(
    shop: RawApi, sandbox: SandboxControl
) -> None:
    profile_id = _a_profile(shop)
    response = shop.http.post(
        f"/v4/profile/{profile_id}/subprofiles/{shop.collection}",
        json={"product": "Fietsbel", "QUANTITY": "4x", "colour": "red"},
    )
    assert response.status_code == 201
    assert response.content == b""
    created = response.headers["x-created"]
    assert response.headers["x-location"] == f"{shop.base_url}/v4/subprofile/{created}"
    subprofile = shop.get(f"/v4/subprofile/{created}").json()
    assert subprofile["fields"] == {
        "order_number": "0",
        "product": "Fietsbel",
        "quantity": "4",
        "amount": "0",
        "status": "",
    }
    assert (subprofile["profile"], subprofile["collection"]) == (profile_id, shop.collection)
    assert subprofile["created"] == subprofile["modified"]
    listed = shop.get(f"/v4/profile/{profile_id}/subprofiles/orders").json()["data"]
    assert listed[-1]["ID"] == created
    assert shop.get(f"/v4/collection/{shop.collection}/subprofileids").json()[-1] == created
    assert sandbox.stats()["subprofiles_created"] == 1


def test_create_subprofile_by_collection_name_and_with_a_form_body(shop: RawApi) -> None:
    profile_id = _a_profile(shop)
    response = shop.http.post(
        f"/v4/profile/{profile_id}/subprofiles/visits", data={"page": "/nieuw"}
    )
    assert response.status_code == 201
    created = shop.get(f"/v4/subprofile/{response.headers['x-created']}").json()
    assert created["fields"]["page"] == "/nieuw"
    assert created["collection"] == shop.account.collection_ids[shop.db][1]


def test_create_subprofile_in_a_bad_collection_could_not_be_created(
    shop: RawApi, raw_factory: Callable[..., RawApi], sandbox: SandboxControl
) -> None:
    profile_id = _a_profile(shop)
    other = raw_factory(3, "Other", collections=1, subprofiles=3)
    for ident in ("999999", "nothing", other.collection):
        response = shop.http.post(f"/v4/profile/{profile_id}/subprofiles/{ident}", json={})
        assert _error(response) == "Subprofile could not be created"
    assert sandbox.stats()["subprofiles_created"] == 0


# ---------------------------------------------------------------------------- subprofile/{id}


def _a_subprofile(raw: RawApi) -> dict:
    return dict(_subprofiles(raw, ("start", "3"), ("limit", "1")).json()["data"][0])


def test_get_subprofile_answers_the_listed_object(shop: RawApi) -> None:
    listed = _a_subprofile(shop)
    assert shop.get(f"/v4/subprofile/{listed['ID']}").json() == listed


def test_unknown_or_foreign_subprofile_is_400_no_subprofile(
    shop: RawApi, raw_factory: Callable[..., RawApi]
) -> None:
    other = raw_factory(3, "Other", collections=1, subprofiles=5)
    foreign = _a_subprofile(other)["ID"]
    for ident in ("999999999", "abc", foreign):
        for method in ("GET", "PUT", "DELETE"):
            response = shop.http.request(method, f"/v4/subprofile/{ident}", json={})
            assert _error(response) == "No subprofile with supplied ID", (ident, method)


def test_put_subprofile_changes_fields_and_secret_and_moves_modified_only_on_change(
    shop: RawApi, sandbox: SandboxControl
) -> None:
    subprofile = _a_subprofile(shop)
    path = f"/v4/subprofile/{subprofile['ID']}"
    same = shop.http.put(path, json={"fields": {"status": subprofile["fields"]["status"]}})
    assert same.status_code == 204
    assert shop.get(path).json() == subprofile
    assert shop.http.put(path, json={"secret": "geheimecode"}).status_code == 204
    assert shop.get(path).json()["secret"] == "geheimecode"
    assert shop.get(path).json()["modified"] == subprofile["modified"]
    assert shop.http.put(path, json={"fields": {"status": "cancelled", "x": 1}}).status_code == 204
    changed = shop.get(path).json()
    assert changed["fields"] == {**subprofile["fields"], "status": "cancelled"}
    assert changed["modified"] > subprofile["modified"]
    assert sandbox.stats()["subprofiles_updated"] == 1


def test_subprofile_fields_are_flat(shop: RawApi) -> None:
    subprofile = _a_subprofile(shop)
    path = f"/v4/subprofile/{subprofile['ID']}/fields"
    assert shop.get(path).json() == subprofile["fields"]
    assert shop.http.put(path, json={"quantity": "7", "amount": "9.5"}).status_code == 204
    fields = shop.get(path).json()
    assert (fields["quantity"], fields["amount"]) == ("7", "9.5")
    assert list(fields) == ORDER_FIELDS


def test_delete_subprofile_soft_removes_it_and_a_second_delete_is_refused(
    shop: RawApi, sandbox: SandboxControl
) -> None:
    subprofile = _a_subprofile(shop)
    path = f"/v4/subprofile/{subprofile['ID']}"
    response = shop.http.delete(path)
    assert response.status_code == 204
    assert response.headers["x-deleted"] == f"subprofile {subprofile['ID']}"
    removed = shop.get(path)
    assert removed.status_code == 200
    assert TIMESTAMP.match(removed.json()["removed"])
    assert set(removed.json()["fields"].values()) == {""}
    assert int(subprofile["ID"]) not in _ids(_subprofiles(shop, ("limit", "100")))
    assert (
        subprofile["ID"] not in shop.get(f"/v4/collection/{shop.collection}/subprofileids").json()
    )
    owned = shop.get(f"/v4/profile/{subprofile['profile']}/subprofiles/orders").json()
    assert subprofile["ID"] not in [item["ID"] for item in owned["data"]]
    again = shop.http.delete(path)
    assert _error(again) == "This subprofile has already been removed"
    assert _error(shop.http.delete(f"{path}/fields")) == "This subprofile has already been removed"
    assert sandbox.stats()["subprofiles_deleted"] == 1


def test_removing_a_profile_removes_its_subprofiles_in_every_collection(shop: RawApi) -> None:
    profile_id = _a_profile(shop)
    owned = {
        collection: [
            item["ID"]
            for item in shop.get(f"/v4/profile/{profile_id}/subprofiles/{collection}").json()[
                "data"
            ]
        ]
        for collection in shop.account.collection_ids[shop.db]
    }
    assert all(len(ids) == 3 for ids in owned.values())
    assert shop.http.delete(f"/v4/profile/{profile_id}").status_code == 204
    for collection, ids in owned.items():
        listed = shop.get(f"/v4/collection/{collection}/subprofileids").json()
        assert set(ids).isdisjoint(listed)
        assert len(listed) == 57
        mine = shop.get(f"/v4/profile/{profile_id}/subprofiles/{collection}").json()
        assert (mine["count"], mine["total"]) == (0, 0)
        assert all(shop.get(f"/v4/subprofile/{item}").json()["removed"] for item in ids)
    refused = shop.http.post(f"/v4/profile/{profile_id}/subprofiles/orders", json={})
    assert _error(refused) == "Subprofile could not be created"


def test_sandbox_counts_collection_and_subprofile_calls_by_route(
    shop: RawApi, sandbox: SandboxControl
) -> None:
    sandbox.reset_stats()
    subprofile = _a_subprofile(shop)
    shop.get(f"/v4/subprofile/{subprofile['ID']}")
    shop.get(f"/v4/profile/{subprofile['profile']}/subprofiles/{shop.collection}")
    assert sandbox.stats()["requests"] == {
        "GET /v4/collection/{id}/subprofiles": 1,
        "GET /v4/subprofile/{id}": 1,
        "GET /v4/profile/{id}/subprofiles/{id}": 1,
    }
