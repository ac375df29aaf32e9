"""CopernicaClient on collections and subprofiles, against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from api_client import (
    AlreadyRemovedError,
    BadRequestError,
    CopernicaClient,
    KeysetPage,
    NotFoundError,
    ProfileAlreadyRemovedError,
    SubprofileAlreadyRemovedError,
    TransportError,
    UnsafeFilterError,
)
from api_client.sandbox.control import SandboxAccount, SandboxControl

MakeClient = Callable[..., CopernicaClient]
LIST = "GET /v4/collection/{id}/subprofiles"


def _shop(sandbox: SandboxControl, subprofiles: int = 60) -> SandboxAccount:
    return sandbox.create_account("Shop", 20, collections=2, subprofiles=subprofiles)


def _orders(account: SandboxAccount) -> str:
    return account.collection_ids[account.database_id][0]


def test_collection_reads(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    collections = client.collections(account.database_id)
    assert [item["name"] for item in collections] == ["orders", "visits"]
    collection = client.collection(_orders(account))
    assert (collection["ID"], collection["database"]) == (_orders(account), account.database_id)
    assert collection["fields"]["data"] == client.collection_fields(_orders(account))
    assert [field["name"] for field in client.collection_fields(_orders(account))] == [
        "order_number",
        "product",
        "quantity",
        "amount",
        "status",
    ]


def test_unknown_collection_and_subprofile_raise_not_found(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    client = make_client(_shop(sandbox).api_token)
    with pytest.raises(NotFoundError) as collection:
        client.collection(424242)
    assert collection.value.message == "No collection with given ID"
    with pytest.raises(NotFoundError) as subprofile:
        client.get_subprofile(424242)
    assert subprofile.value.message == "No subprofile with supplied ID"


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 2500])
def test_subprofile_keyset_pages_cover_every_subprofile_at_the_edges(
    sandbox: SandboxControl, make_client: MakeClient, size: int
) -> None:
    account = _shop(sandbox, subprofiles=size)
    client = make_client(account.api_token)
    pages = list(client.paginate_subprofiles_keyset(_orders(account)))
    ids = [item["ID"] for page in pages for item in page.items]
    assert len(ids) == len(set(ids)) == size
    assert ids == sorted(ids, key=int)
    assert [page.count for page in pages] == [1000] * (size // 1000) + (
        [size % 1000] if size % 1000 else []
    )
    if pages:
        assert pages[-1].last_id == int(ids[-1])
        assert pages[-1].nextid is None
    assert sandbox.stats()["requests"].get(LIST, 0) == size // 1000 + 1


def test_subprofile_keyset_resumes_from_a_checkpoint_and_ands_filters(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox, subprofiles=700)
    client = make_client(account.api_token)
    walk = client.paginate_subprofiles_keyset(_orders(account), page_size=300)
    first: KeysetPage = next(walk)
    walk.close()
    rest = list(
        client.paginate_subprofiles_keyset(_orders(account), page_size=300, after_id=first.last_id)
    )
    ids = [item["ID"] for page in [first, *rest] for item in page.items]
    assert len(ids) == len(set(ids)) == 700
    paid = [
        item
        for page in client.paginate_subprofiles_keyset(
            _orders(account), {"fields[]": ["status==paid"]}, page_size=50
        )
        for item in page.items
    ]
    assert paid
    assert {item["fields"]["status"] for item in paid} == {"paid"}
    assert len(paid) == len(client.find_subprofiles(_orders(account), {"status": "paid"}))


def test_subprofile_crud_through_the_client(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[2]
    before = client.profile_subprofiles(profile_id, _orders(account))
    created = client.create_subprofile(profile_id, "orders", {"product": "Bel", "quantity": 2})
    subprofile = client.get_subprofile(created)
    assert (subprofile["profile"], subprofile["collection"]) == (profile_id, _orders(account))
    assert (subprofile["fields"]["product"], subprofile["fields"]["quantity"]) == ("Bel", "2")
    client.update_subprofile(created, {"status": "paid"})
    assert client.get_subprofile(created)["fields"]["status"] == "paid"
    owned = client.profile_subprofiles(profile_id, _orders(account))
    assert [item["ID"] for item in owned] == [item["ID"] for item in before] + [created]
    client.delete_subprofile(created)
    assert client.get_subprofile(created)["removed"]
    assert client.profile_subprofiles(profile_id, _orders(account)) == before
    stats = sandbox.stats()
    assert (
        stats["subprofiles_created"],
        stats["subprofiles_updated"],
        stats["subprofiles_deleted"],
    ) == (1, 1, 1)


def test_deleting_a_subprofile_twice_raises_subprofile_already_removed(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    subprofile_id = client.subprofile_ids(_orders(account))[0]
    client.delete_subprofile(subprofile_id)
    with pytest.raises(SubprofileAlreadyRemovedError) as caught:
        client.delete_subprofile(subprofile_id)
    assert caught.value.message == "This subprofile has already been removed"
    assert isinstance(caught.value, AlreadyRemovedError)
    assert not isinstance(caught.value, ProfileAlreadyRemovedError)


def test_deleting_a_profile_twice_raises_profile_already_removed_an_already_removed_error(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[0]
    client.delete_profile(profile_id)
    with pytest.raises(ProfileAlreadyRemovedError) as caught:
        client.delete_profile(profile_id)
    assert isinstance(caught.value, AlreadyRemovedError)
    assert not isinstance(caught.value, SubprofileAlreadyRemovedError)


def test_a_subprofile_delete_whose_answer_was_lost_counts_as_done(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    subprofile_id = client.subprofile_ids(_orders(account))[0]
    sandbox.fault(path="/v4/subprofile/", method="DELETE", drop="after")
    client.delete_subprofile(subprofile_id)
    stats = sandbox.stats()
    assert stats["subprofiles_deleted"] == 1
    assert stats["requests"]["DELETE /v4/subprofile/{id}"] == 2


def test_create_subprofile_is_never_retried_after_it_may_have_arrived(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[0]
    sandbox.fault(method="POST", drop="after")
    with pytest.raises(TransportError):
        client.create_subprofile(profile_id, _orders(account), {"product": "Slot"})
    stats = sandbox.stats()
    assert stats["subprofiles_created"] == 1
    assert stats["requests"]["POST /v4/profile/{id}/subprofiles/{id}"] == 1


def test_create_subprofile_in_a_collection_of_another_database_is_refused(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Two", 3, databases=2, collections=1, subprofiles=3)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_ids[0])[0]
    other_collection = account.collection_ids[account.database_ids[1]][0]
    with pytest.raises(BadRequestError) as caught:
        client.create_subprofile(profile_id, other_collection, {})
    assert caught.value.message == "Subprofile could not be created"
    assert sandbox.stats()["subprofiles_created"] == 0


def test_find_subprofiles_refuses_a_filter_copernica_would_ignore(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    for expressions in ({"colour": "red"}, ["status = paid"], []):
        with pytest.raises(UnsafeFilterError) as caught:
            client.find_subprofiles(_orders(account), expressions)
        assert "subprofile" in str(caught.value)
    assert LIST not in sandbox.stats()["requests"]
    cheap = client.find_subprofiles(_orders(account), ["amount<20", "id>0"])
    assert cheap
    assert all(float(item["fields"]["amount"]) < 20 for item in cheap)


def test_a_removed_profiles_subprofiles_are_gone_from_the_clients_lists(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _shop(sandbox)
    client = make_client(account.api_token)
    profile_id = client.profile_ids(account.database_id)[5]
    owned = {
        collection: [item["ID"] for item in client.profile_subprofiles(profile_id, collection)]
        for collection in account.collection_ids[account.database_id]
    }
    client.delete_profile(profile_id)
    for collection, ids in owned.items():
        assert len(ids) == 3
        walked = [
            item["ID"]
            for page in client.paginate_subprofiles_keyset(collection)
            for item in page.items
        ]
        assert set(ids).isdisjoint(walked)
        assert set(ids).isdisjoint(client.subprofile_ids(collection))
        assert len(walked) == len(client.subprofile_ids(collection)) == 57
        assert client.profile_subprofiles(profile_id, collection) == []
        assert all(client.get_subprofile(item)["removed"] for item in ids)
