"""The sandbox's request and response values, independent of the HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    base_url: str

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    @property
    def params(self) -> dict[str, str]:
        """The query as a dict (first value wins)."""
        result: dict[str, str] = {}
        for key, value in self.query:
            result.setdefault(key, value)
        return result

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        """The body as an urlencoded form (first value wins)."""
        result: dict[str, str] = {}
        for key, value in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
            result.setdefault(key, value)
        return result

    def form_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Response:
    """An answer: a complete ``body``, or a ``chunks`` iterator sent chunked."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunks: Iterator[bytes] | None = None


def json_response(
    status: int, document: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


def error_response(
    message: str, status: int = 400, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Copernica's error body ``{"error":{"message":...}}``."""
    return json_response(status, {"error": {"message": message}}, headers)


def html_response(status: int, html: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        status, [("Content-Type", "text/html; charset=utf-8"), *(headers or [])], html.encode()
    )


def empty_response(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, list(headers or []))


class ApiError(Exception):
    """An error answer ``{"error":{"message":...}}`` (400 unless stated)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
