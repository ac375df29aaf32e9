"""CopernicaClient reads against the sandbox: endpoints, paging at the edges, streaming."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from api_client import CopernicaClient, KeysetPage, NotFoundError, UnexpectedResponseError
from api_client.sandbox.control import SandboxControl

MakeClient = Callable[..., CopernicaClient]


class HeaderRecordingTransport(httpx.HTTPTransport):
    """Remembers the Transfer-Encoding of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.encodings: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.encodings.append(response.headers.get("transfer-encoding"))
        return response


def test_identity_and_databases(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Initech", 3)
    client = make_client(account.api_token)
    assert client.identity()["id"] == account.account_id
    databases = client.databases()
    assert [database["ID"] for database in databases] == [account.database_id]
    database = client.database(account.database_id)
    assert database["name"] == databases[0]["name"]
    assert [field["name"] for field in client.fields(account.database_id)][-1] == "age"
    assert len(client.interests(account.database_id)) == 5
    assert client.collections(account.database_id) == []


def test_unknown_database_raises_not_found(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    client = make_client(sandbox.create_account("Initech", 0).api_token)
    with pytest.raises(NotFoundError) as caught:
        client.database(424242)
    assert caught.value.message == "No database with supplied ID"
    assert caught.value.status == 400


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 2500])
def test_paginate_yields_every_profile_once_at_the_edges(
    sandbox: SandboxControl, make_client: MakeClient, size: int
) -> None:
    account = sandbox.create_account("Edge", size)
    client = make_client(account.api_token)
    ids = [item["ID"] for item in client.paginate(f"database/{account.database_id}/profiles")]
    assert len(ids) == size
    assert ids == sorted(ids, key=int)
    assert len(set(ids)) == size
    pages = sandbox.stats()["requests"].get("GET /v4/database/{id}/profiles", 0)
    assert pages == size // 1000 + 1


def test_paginate_at_page_size_100(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Edge", 250)
    client = make_client(account.api_token)
    items = list(client.paginate(f"database/{account.database_id}/profiles", page_size=100))
    assert len({item["ID"] for item in items}) == 250
    assert sandbox.stats()["requests"]["GET /v4/database/{id}/profiles"] == 3


def test_paginate_is_lazy(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Lazy", 2500)
    client = make_client(account.api_token)
    iterator = client.paginate(f"database/{account.database_id}/profiles")
    first = next(iterator)
    assert first["ID"]
    assert sandbox.stats()["requests"]["GET /v4/database/{id}/profiles"] == 1


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 2500])
def test_keyset_pages_cover_every_profile_at_the_edges(
    sandbox: SandboxControl, make_client: MakeClient, size: int
) -> None:
    account = sandbox.create_account("Keyset", size)
    client = make_client(account.api_token)
    pages = list(client.paginate_keyset(account.database_id))
    ids = [item["ID"] for page in pages for item in page.items]
    assert len(ids) == len(set(ids)) == size
    assert [page.count for page in pages] == [1000] * (size // 1000) + (
        [size % 1000] if size % 1000 else []
    )
    if pages:
        assert pages[-1].last_id == int(ids[-1])
        assert pages[-1].nextid is None


def test_keyset_resumes_from_a_checkpoint(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Resume", 2500)
    client = make_client(account.api_token)
    walk = client.paginate_keyset(account.database_id, page_size=400)
    first: KeysetPage = next(walk)
    second: KeysetPage = next(walk)
    walk.close()
    assert second.items[0]["ID"] == str(first.last_id + 1)
    rest = list(client.paginate_keyset(account.database_id, page_size=400, after_id=second.last_id))
    ids = [item["ID"] for page in [first, second, *rest] for item in page.items]
    assert len(ids) == len(set(ids)) == 2500


def test_keyset_combines_with_extra_filters(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Filter", 300)
    client = make_client(account.api_token)
    pages = list(
        client.paginate_keyset(account.database_id, {"fields[]": ["age>=60"]}, page_size=20)
    )
    items = [item for page in pages for item in page.items]
    assert items
    assert all(int(item["fields"]["age"]) >= 60 for item in items)
    everyone = list(client.paginate(f"database/{account.database_id}/profiles"))
    assert len(items) == sum(int(item["fields"]["age"]) >= 60 for item in everyone)


def test_stream_profiles_reads_the_chunked_rest_host(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Stream", 2600)
    transport = HeaderRecordingTransport()
    client = make_client(account.api_token, transport=transport)
    ids = [item["ID"] for item in client.stream_profiles(account.database_id, limit=1500)]
    assert len(ids) == len(set(ids)) == 2600
    assert ids == sorted(ids, key=int)
    assert transport.encodings[-2:] == ["chunked", "chunked"]
    assert sandbox.stats()["requests"]["GET /rest/v4/database/{id}/profiles"] == 2


def test_stream_profiles_resumes_after_an_id(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Stream", 1200)
    client = make_client(account.api_token)
    everything = [item["ID"] for item in client.stream_profiles(account.database_id)]
    tail = [
        item["ID"]
        for item in client.stream_profiles(account.database_id, after_id=int(everything[99]))
    ]
    assert tail == everything[100:]


def test_stream_profiles_without_rest_url_falls_back_to_keyset(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Stream", 1100)
    client = make_client(account.api_token, rest_url=None)
    assert len(list(client.stream_profiles(account.database_id))) == 1100
    assert "GET /rest/v4/database/{id}/profiles" not in sandbox.stats()["requests"]


def test_profile_ids_and_get_profile(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Ids", 30)
    client = make_client(account.api_token)
    ids = client.profile_ids(account.database_id)
    assert len(ids) == 30
    assert all(isinstance(value, str) for value in ids)
    profile = client.get_profile(ids[3])
    assert profile["ID"] == ids[3]
    assert profile["removed"] is False


def test_iter_profile_ids_streams_every_id_in_blocks(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("Many ids", 20_000)
    client = make_client(account.api_token)

    blocks = list(client.iter_profile_ids(account.database_id))

    streamed = [value for block in blocks for value in block]
    assert len(blocks) > 1  # parsed while the body arrived, not in one piece
    assert streamed == client.profile_ids(account.database_id)
    assert len(set(streamed)) == 20_000
    assert all(value.isdigit() for value in streamed)


class BodyReplacingTransport(httpx.HTTPTransport):
    """Answers the profile id list with ``body`` instead of the sandbox's own answer."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/profileids"):
            response.read()
            return httpx.Response(200, content=self.body)
        return response


@pytest.mark.parametrize(
    "body",
    [b'["1","2","3"', b'{"error":"nope"}', b'["1",,"2"]', b'["1","x"]', b"", b"[1,2]trailing"],
)
def test_iter_profile_ids_refuses_a_body_that_is_not_a_whole_id_array(
    sandbox: SandboxControl, make_client: MakeClient, body: bytes
) -> None:
    account = sandbox.create_account("Broken ids", 3)
    client = make_client(account.api_token, transport=BodyReplacingTransport(body))

    with pytest.raises(UnexpectedResponseError):
        list(client.iter_profile_ids(account.database_id))


def test_iter_profile_ids_of_an_empty_list_yields_nothing(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    account = sandbox.create_account("No ids", 3)
    client = make_client(account.api_token, transport=BodyReplacingTransport(b" [ ] "))

    assert list(client.iter_profile_ids(account.database_id)) == []


def test_get_unknown_profile_raises_not_found(
    sandbox: SandboxControl, make_client: MakeClient
) -> None:
    client = make_client(sandbox.create_account("Ids", 1).api_token)
    with pytest.raises(NotFoundError) as caught:
        client.get_profile(987654321)
    assert caught.value.message == "No entity with supplied ID"


def test_get_accepts_raw_paths_and_params(sandbox: SandboxControl, make_client: MakeClient) -> None:
    account = sandbox.create_account("Raw", 40)
    client = make_client(account.api_token)
    page = client.get(f"/database/{account.database_id}/profiles", {"limit": 7, "dataonly": True})
    assert page["count"] == 7
    assert list(page["data"][0]) == ["ID", "fields", "interests", "modified"]
