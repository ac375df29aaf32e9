"""Pure parsing pieces: the incremental envelope parser, JWT bodies, filter expressions."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from api_client import CopernicaClient, EnvelopeStream, UnexpectedResponseError
from api_client.filters import parse_filter, unsafe_expressions
from api_client.responses import paging_envelope
from api_client.tokens import clean_jwt_body, jwt_claims

ENVELOPE = {
    "start": 0,
    "limit": 3,
    "count": 3,
    "data": [{"ID": "1", "fields": {"name": 'Zoë ]}\\"'}}, {"ID": "22"}, {"ID": "333"}],
    "nextid": 1234567,
    "total": 10,
}


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_envelope_stream_parses_any_chunking(size: int) -> None:
    body = json.dumps(ENVELOPE, ensure_ascii=False).encode()
    chunks = [body[index : index + size] for index in range(0, len(body), size)]
    stream = EnvelopeStream(chunks)
    assert list(stream) == ENVELOPE["data"]
    assert stream.envelope == {"start": 0, "limit": 3, "count": 3, "nextid": 1234567, "total": 10}
    assert stream.items_seen == 3


def test_envelope_stream_handles_an_empty_list() -> None:
    stream = EnvelopeStream([b'{"start":0,"limit":10,"count":0,"data":[]}'])
    assert list(stream) == []
    assert stream.envelope["count"] == 0


@pytest.mark.parametrize(
    "body", [b'{"data":[{"ID":"1"},', b'{"data":[{"ID":"1"} {"ID":"2"}]}', b"[1,2]"]
)
def test_envelope_stream_rejects_truncated_or_malformed_bodies(body: bytes) -> None:
    with pytest.raises(UnexpectedResponseError):
        list(EnvelopeStream([body]))


def _jwt(claims: dict) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln"


@pytest.mark.parametrize("wrap", ["{}", ' "{}"\n', "{}\r\n", '{{"token": "{}"}}'])
def test_jwt_bodies_are_cleaned_defensively(wrap: str) -> None:
    token = _jwt({"exp": 2_000_000_000})
    cleaned = clean_jwt_body(wrap.format(token))
    assert cleaned == token
    assert jwt_claims(cleaned) == {"exp": 2_000_000_000}


def test_client_reads_exp_from_a_quoted_jwt() -> None:
    token = _jwt({"exp": 2_000_000_000})
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth":
            return httpx.Response(200, text=f'"{token}"\n')
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"id": "1"})

    client = CopernicaClient(
        "api-token",
        api_url="https://copernica.test/v4",
        auth_url="https://copernica.test/auth",
        transport=httpx.MockTransport(answer),
    )
    client.identity()
    assert seen == [f"Bearer {token}"]


def test_filter_parsing_follows_copernica() -> None:
    parsed = parse_filter("  age>=16 ")
    assert parsed is not None
    assert (parsed.field, parsed.operator, parsed.value) == (
        "age",
        ">=",
        "16",
    )
    assert parse_filter("name=x") is None
    assert parse_filter("name<>x").operator == "<>"  # type: ignore[union-attr]
    assert (
        unsafe_expressions(["Email==a", "id>5", "modified>=2024-01-01 00:00:00"], ["email"]) == []
    )
    assert unsafe_expressions(["email ==a", "mail==a", "x"], ["email"]) == [
        "email ==a",
        "mail==a",
        "x",
    ]


def test_a_body_orjson_refuses_is_decoded_by_the_standard_library() -> None:
    """``NaN`` is not JSON to orjson; the standard library takes it, as it always did."""
    body = b'{"start":0,"limit":10,"count":1,"data":[{"ID":"1","score":NaN}]}'

    envelope = paging_envelope(httpx.Response(200, content=body))

    assert envelope["data"][0]["ID"] == "1"
    assert envelope["data"][0]["score"] != envelope["data"][0]["score"]  # NaN


def test_a_body_that_is_not_json_is_an_unexpected_response() -> None:
    with pytest.raises(UnexpectedResponseError):
        paging_envelope(httpx.Response(200, content=b"<html>busy</html>"))
