"""The client reads whole id lists however Copernica caps one answer, and keeps reading a
profile stream that the rest host did not stream."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from api_client import CopernicaClient, UnexpectedResponseError
from api_client.sandbox.control import SandboxAccount, SandboxControl

MakeClient = Callable[..., CopernicaClient]
PROFILE_IDS = "GET /v4/database/{id}/profileids"
SUBPROFILE_IDS = "GET /v4/collection/{id}/subprofileids"
REST_PROFILES = "GET /rest/v4/database/{id}/profiles"


def _account(sandbox: SandboxControl, size: int = 2500) -> SandboxAccount:
    return sandbox.create_account("Ids", size, collections=1, subprofiles=size)


def _collection(account: SandboxAccount) -> str:
    return account.collection_ids[account.database_id][0]


class QueryRewritingTransport(httpx.HTTPTransport):
    """Rewrites the query of id-list requests before they reach the sandbox."""

    def __init__(self, rewrite: Callable[[httpx.QueryParams], httpx.QueryParams]) -> None:
        super().__init__()
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("ids"):
            request.url = request.url.copy_with(params=self.rewrite(request.url.params))
        return super().handle_request(request)


def test_a_single_answer_is_short_when_the_id_list_is_capped(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _account(sandbox)
    sandbox.set_options(id_list_cap=100)
    client = make_client(account.api_token)
    unpaged = client.get(f"database/{account.database_id}/profileids")
    assert len(unpaged) == 100


def test_profile_ids_are_complete_when_an_unpaged_answer_is_capped(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _account(sandbox)
    sandbox.set_options(id_list_cap=100)
    client = make_client(account.api_token)
    ids = client.profile_ids(account.database_id)
    assert len(ids) == len(set(ids)) == 2500
    assert ids == sorted(ids, key=int)
    # Three pages of at most 1000, then the empty page that ends the walk.
    assert sandbox.stats()["requests"][PROFILE_IDS] == 4


def test_subprofile_ids_are_complete_when_an_unpaged_answer_is_capped(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = _account(sandbox)
    sandbox.set_options(id_list_cap=100)
    client = make_client(account.api_token)
    blocks = list(client.iter_subprofile_ids(_collection(account)))
    ids = [value for block in blocks for value in block]
    walked = [
        item["ID"]
        for page in client.paginate_subprofiles_keyset(_collection(account))
        for item in page.items
    ]
    assert ids == walked
    assert len(ids) == 2500
    assert sandbox.stats()["requests"][SUBPROFILE_IDS] == 4


def test_a_short_page_is_not_the_end_of_an_id_list(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    # A Copernica that answers at most 100 ids whatever limit asks.
    def cap_at_100(params: httpx.QueryParams) -> httpx.QueryParams:
        return params.set("limit", "100")

    account = _account(sandbox)
    client = make_client(account.api_token, transport=QueryRewritingTransport(cap_at_100))
    assert len(client.profile_ids(account.database_id)) == 2500
    assert len(client.subprofile_ids(_collection(account))) == 2500
    requests = sandbox.stats()["requests"]
    assert requests[PROFILE_IDS] == requests[SUBPROFILE_IDS] == 26


def test_an_id_list_that_ignores_start_is_refused_rather_than_read_forever(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    def drop_start(params: httpx.QueryParams) -> httpx.QueryParams:
        return params.remove("start")

    account = _account(sandbox)
    client = make_client(account.api_token, transport=QueryRewritingTransport(drop_start))
    with pytest.raises(UnexpectedResponseError, match="ignored the start parameter"):
        client.profile_ids(account.database_id)
    assert sandbox.stats()["requests"][PROFILE_IDS] == 2


def test_id_lists_ask_for_pages_of_1000(sandbox: SandboxControl, make_client: MakeClient) -> None:
    seen: list[httpx.QueryParams] = []

    def record(params: httpx.QueryParams) -> httpx.QueryParams:
        seen.append(params)
        return params

    account = _account(sandbox, 1500)
    client = make_client(account.api_token, transport=QueryRewritingTransport(record))
    assert len(client.profile_ids(account.database_id)) == 1500
    assert [(params["start"], params["limit"]) for params in seen] == [
        ("0", "1000"),
        ("1000", "1000"),
        ("1500", "1000"),
    ]


# ---------------------------------------------------------------------------- stream fallback


class EncodingRecorder(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.encodings: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.encodings.append(response.headers.get("transfer-encoding"))
        return response


def test_stream_profiles_keeps_reading_when_the_rest_host_does_not_stream(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Unstreamed", 2500)
    sandbox.set_options(unstreamed=["database/{id}/profiles"])
    transport = EncodingRecorder()
    client = make_client(account.api_token, transport=transport)
    ids = [item["ID"] for item in client.stream_profiles(account.database_id)]
    assert len(ids) == len(set(ids)) == 2500
    assert ids == sorted(ids, key=int)
    assert sandbox.stats()["requests"][REST_PROFILES] == 3
    assert "chunked" not in transport.encodings


def test_stream_profiles_reads_once_more_after_exactly_1000_unstreamed_rows(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Unstreamed", 2000)
    sandbox.set_options(unstreamed=["database/{id}/profiles"])
    client = make_client(account.api_token)
    assert len(list(client.stream_profiles(account.database_id, limit=5000))) == 2000
    # 1000, 1000, then an empty answer: a full capped page is never taken for the end.
    assert sandbox.stats()["requests"][REST_PROFILES] == 3


def test_stream_profiles_stops_at_a_short_streamed_answer(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Streamed", 2500)
    client = make_client(account.api_token)
    assert len(list(client.stream_profiles(account.database_id))) == 2500
    assert sandbox.stats()["requests"][REST_PROFILES] == 1
