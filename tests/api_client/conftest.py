"""Fixtures for the api_client tests: the sandbox subprocess and clients on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api_client import CopernicaClient, RequestRecord
from api_client.sandbox.control import SandboxAccount, SandboxControl
from tests.sandbox_plugin import sandbox, sandbox_url  # noqa: F401


class Recorder:
    """Collects the RequestRecords and waits of a client."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.waits: list[float] = []

    def __call__(self, record: RequestRecord) -> None:
        self.records.append(record)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def statuses(self, path_part: str = "") -> list[int | None]:
        return [record.status for record in self.records if path_part in record.path]


@pytest.fixture
def make_client(sandbox: SandboxControl) -> Iterator[Callable[..., CopernicaClient]]:  # noqa: F811
    """Build clients on the sandbox, with fast backoff; closed after the test."""
    clients: list[CopernicaClient] = []

    def make(token: str, **options: Any) -> CopernicaClient:
        options.setdefault("api_url", sandbox.api_url)
        options.setdefault("auth_url", sandbox.auth_url)
        options.setdefault("rest_url", sandbox.rest_url)
        options.setdefault("backoff_base", 0.01)
        options.setdefault("backoff_max", 0.05)
        options.setdefault("timeout", 10.0)
        client = CopernicaClient(token, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@dataclass
class RawApi:
    """A raw httpx client with a valid JWT for one sandbox account."""

    http: httpx.Client
    account: SandboxAccount
    base_url: str

    @property
    def db(self) -> str:
        return self.account.database_id

    @property
    def collection(self) -> str:
        """The first collection of the first database."""
        return self.account.collection_ids[self.db][0]

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)


@pytest.fixture
def raw_factory(sandbox: SandboxControl) -> Iterator[Callable[..., RawApi]]:  # noqa: F811
    """Make accounts and raw authorised httpx clients on them."""
    clients: list[httpx.Client] = []

    def make(profiles: int = 25, name: str = "Acme", **layout: int) -> RawApi:
        """``layout``: ``databases``, ``collections``, ``subprofiles`` of the account."""
        account = sandbox.create_account(name, profiles, **layout)
        jwt = httpx.post(sandbox.auth_url, data={"access_token": account.api_token}).text
        http = httpx.Client(
            base_url=sandbox.base_url, headers={"Authorization": f"Bearer {jwt}"}, timeout=10
        )
        clients.append(http)
        return RawApi(http, account, sandbox.base_url)

    yield make
    for http in clients:
        http.close()


@pytest.fixture
def raw(raw_factory: Callable[..., RawApi]) -> RawApi:
    """A raw client on a fresh account of 25 profiles."""
    return raw_factory()
