"""Fixtures of the API tests: keys of agency A (the ``world`` fixture's agencies) and a client
that sends them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from accounts.models import Agency, User
from linker.platform.api_keys import NewApiKey, api_key_create
from tests.conftest import World

ALL_SCOPES = ("read", "write", "admin")


def make_key(
    *, agency: Agency, user: User, scopes: Iterable[str] = ALL_SCOPES, name: str = "CRM"
) -> NewApiKey:
    return api_key_create(agency=agency, user=user, name=name, scopes=list(scopes))


@dataclass
class Api:
    """Calls /api/v1/ with one key (``Authorization: Bearer``), JSON in and out."""

    secret: str
    client: Client = field(default_factory=Client)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> HttpResponse:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"} if self.secret else {}
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        if method == "GET":
            return self.client.get(url, query or {}, **extra)
        data = json.dumps(body) if body is not None else ""
        return self.client.generic(method, url, data, content_type="application/json", **extra)

    def get(self, path: str, **query: Any) -> HttpResponse:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.call("POST", path, body, **kwargs)


@pytest.fixture
def api_as(world: World) -> Callable[..., Api]:
    """An ``Api`` with a new key of agency A (made by its admin) with the given scopes."""

    def make(*scopes: str) -> Api:
        made = make_key(
            agency=world.agency_a, user=world.agency_admin_a, scopes=scopes or ALL_SCOPES
        )
        return Api(made.secret)

    return make


@pytest.fixture
def api(api_as: Callable[..., Api]) -> Api:
    """Agency A's key with every scope."""
    return api_as()


def problem(response: HttpResponse) -> dict[str, Any]:
    """The problem+json body of an error answer (and that it is one)."""
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = json.loads(response.content)
    assert body["status"] == response.status_code
    assert body["type"].startswith("/api/v1/problems/")
    return body
