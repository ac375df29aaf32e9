"""CopernicaClient writes against the sandbox, and the bulk-PUT guard."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from api_client import (
    BadRequestError,
    CopernicaClient,
    ProfileAlreadyRemovedError,
    UnsafeBulkUpdateError,
    UnsafeFilterError,
)
from api_client.sandbox.control import SandboxControl

MakeClient = Callable[..., CopernicaClient]


def test_create_profile_returns_the_new_id(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Writes", 5)
    client = make_client(account.api_token)
    profile_id = client.create_profile(
        account.database_id, {"email": "new@example.com", "age": 41}, ["events", "sports"]
    )
    profile = client.get_profile(profile_id)
    assert profile["fields"]["email"] == "new@example.com"
    assert profile["fields"]["age"] == "41"
    assert profile["interests"] == ["events", "sports"]
    assert sandbox.stats()["profiles_created"] == 1


def test_update_profile_changes_fields_and_interests(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Writes", 5)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[0]
    client.update_profile(profile_id, {"city": "Urk"}, {"newsletter": True, "events": False})
    profile = client.get_profile(profile_id)
    assert profile["fields"]["city"] == "Urk"
    assert "newsletter" in profile["interests"]
    assert "events" not in profile["interests"]


def test_delete_profile_is_confirmed_and_a_second_delete_raises(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Writes", 5)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[0]
    client.delete_profile(profile_id)
    assert client.get_profile(profile_id)["removed"]
    assert sandbox.stats()["profiles_deleted"] == 1
    with pytest.raises(ProfileAlreadyRemovedError):
        client.delete_profile(profile_id)


def test_delete_whose_answer_was_lost_counts_as_done_on_retry(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Writes", 5)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[0]
    sandbox.fault(method="DELETE", drop="after")
    client.delete_profile(profile_id)
    assert client.get_profile(profile_id)["removed"]
    assert sandbox.stats()["requests"]["DELETE /v4/profile/{id}"] == 2


def test_bad_input_raises_copernicas_message(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Writes", 1)
    client = make_client(account.api_token)
    with pytest.raises(BadRequestError) as caught:
        client.get(f"database/{account.database_id}/nothing")
    assert caught.value.message == "Invalid method"


def test_update_matching_updates_only_the_matches(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Bulk", 40)
    client = make_client(account.api_token)
    everyone = list(client.paginate(f"database/{account.database_id}/profiles"))
    city = everyone[0]["fields"]["city"]
    expected = {item["ID"] for item in everyone if item["fields"]["city"] == city}
    assert client.update_matching(account.database_id, {"city": city}, {"lastname": "Bulk"}) is None
    updated = client.find_profiles(account.database_id, {"lastname": "Bulk"})
    assert {item["ID"] for item in updated} == expected


def test_update_matching_with_create_returns_the_created_id(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Bulk", 3)
    client = make_client(account.api_token)
    created = client.update_matching(
        account.database_id,
        ["email==upsert@example.com"],
        {"email": "upsert@example.com"},
        create=True,
    )
    assert created is not None
    assert client.get_profile(created)["fields"]["email"] == "upsert@example.com"


@pytest.mark.parametrize(
    "filters",
    [{}, [], ["emial==typo@example.com"], ["email ==x@example.com"], ["nonsense"], {"Shoe": "42"}],
)
def test_update_matching_refuses_filters_copernica_would_ignore(
    sandbox: SandboxControl, make_client: MakeClient, filters: dict | list
) -> None:
    account = sandbox.create_account("Guard", 10)
    client = make_client(account.api_token)
    with pytest.raises(UnsafeBulkUpdateError):
        client.update_matching(account.database_id, filters, {"city": "Everywhere"})
    requests = sandbox.stats()["requests"]
    assert "PUT /v4/database/{id}/profiles" not in requests
    everyone = list(client.paginate(f"database/{account.database_id}/profiles"))
    assert all(item["fields"]["city"] != "Everywhere" for item in everyone)


def test_update_matching_accepts_special_fields(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Guard", 10)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[4]
    client.update_matching(account.database_id, [f"id=={profile_id}"], {"city": "Ede"})
    assert [item["ID"] for item in client.find_profiles(account.database_id, {"city": "Ede"})] == [
        profile_id
    ]


def test_find_profiles_refuses_unknown_fields(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Find", 10)
    client = make_client(account.api_token)
    with pytest.raises(UnsafeFilterError) as caught:
        client.find_profiles(account.database_id, {"mail": "x@example.com"})
    assert caught.value.expressions == ["mail==x@example.com"]
    assert "GET /v4/database/{id}/profiles" not in sandbox.stats()["requests"]
