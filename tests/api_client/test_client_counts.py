"""Copernica's own count of a database's profiles and a collection's subprofiles, and id lists
read from an offset: what the removal check compares (reliability.md case 45)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from api_client import CopernicaClient, UnexpectedResponseError
from api_client.sandbox.control import SandboxAccount, SandboxControl

MakeClient = Callable[..., CopernicaClient]
PROFILES = "GET /v4/database/{id}/profiles"
SUBPROFILES = "GET /v4/collection/{id}/subprofiles"


def _account(sandbox: SandboxControl) -> SandboxAccount:
    return sandbox.create_account("Counts", 1234, collections=1, subprofiles=567)


def _collection(account: SandboxAccount) -> str:
    return account.collection_ids[account.database_id][0]


class EnvelopeRewritingTransport(httpx.HTTPTransport):
    """Rewrites the envelope of list answers (``rewrite`` edits the decoded document)."""

    def __init__(self, rewrite: Callable[[dict[str, object]], None]) -> None:
        super().__init__()
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith(("/profiles", "/subprofiles")):
            response.read()
            document = response.json()
            self.rewrite(document)
            return httpx.Response(200, content=json.dumps(document).encode())
        return response


def test_count_profiles_is_the_number_of_live_profiles_in_one_request(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _account(sandbox)
    client = make_client(account.api_token)
    for profile_id in client.profile_ids(account.database_id)[:34]:
        client.delete_profile(profile_id)
    sandbox.reset_stats()

    count = client.count_profiles(account.database_id)

    assert count == 1200 == len(client.profile_ids(account.database_id))
    assert sandbox.stats()["requests"][PROFILES] == 1


def test_count_subprofiles_is_the_number_of_live_subprofiles_in_one_request(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _account(sandbox)
    client = make_client(account.api_token)
    for subprofile_id in client.subprofile_ids(_collection(account))[:7]:
        client.delete_subprofile(subprofile_id)
    sandbox.reset_stats()

    count = client.count_subprofiles(_collection(account))

    assert count == 560 == len(client.subprofile_ids(_collection(account)))
    assert sandbox.stats()["requests"][SUBPROFILES] == 1


def test_count_of_a_profile_removed_with_its_subprofiles_agrees_with_the_id_list(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _account(sandbox)
    client = make_client(account.api_token)
    owner = client.get_subprofile(client.subprofile_ids(_collection(account))[0])["profile"]
    client.delete_profile(owner)

    assert client.count_subprofiles(_collection(account)) == len(
        client.subprofile_ids(_collection(account))
    )


@pytest.mark.parametrize("total", [None, "1234", -1, True, 12.5])
def test_a_count_answer_without_a_whole_number_total_raises(
    sandbox: SandboxControl, make_client: MakeClient, total: object
) -> None:
    account = _account(sandbox)

    def rewrite(document: dict[str, object]) -> None:
        if total is None:
            document.pop("total", None)
        else:
            document["total"] = total

    client = make_client(account.api_token, transport=EnvelopeRewritingTransport(rewrite))

    with pytest.raises(UnexpectedResponseError, match="how many profiles"):
        client.count_profiles(account.database_id)
    with pytest.raises(UnexpectedResponseError, match="how many subprofiles"):
        client.count_subprofiles(_collection(account))


def test_an_id_list_read_from_an_offset_is_the_rest_of_the_whole_list(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _account(sandbox)
    client = make_client(account.api_token)
    whole = client.profile_ids(account.database_id)
    subprofiles = client.subprofile_ids(_collection(account))

    rest = [i for block in client.iter_profile_ids(account.database_id, start=1001) for i in block]
    tail = [i for block in client.iter_subprofile_ids(_collection(account), start=7) for i in block]

    assert rest == whole[1001:]
    assert tail == subprofiles[7:]
