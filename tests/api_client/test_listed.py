"""Pages decoded for copying (``api_client.listed``): ``fields`` and ``interests`` kept as the
JSON text Copernica sent, and every page that could not be kept exactly decoded the general
way instead."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from api_client import CopernicaClient
from api_client.listed import listed_page, raw_text
from tests.api_client.test_parsing import _jwt

ITEMS: list[dict[str, Any]] = [
    {
        "ID": "7",
        "secret": "not kept",
        "fields": {"name": 'Zoë \\ "quoted" 😀 ]}', "empty": ""},
        "interests": ["news"],
        "profile": "70",
        "collection": "3",
        "created": "2024-10-27 02:30:00",
        "modified": "0000-00-00 00:00:00",
        "removed": False,
    },
    {"ID": 9, "created": None},
]


def _compact(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _envelope(items: list[dict[str, Any]], **extra: object) -> dict[str, Any]:
    return {"start": 0, "limit": 1000, "count": len(items), "data": items, **extra}


def test_a_compact_page_keeps_each_items_json_as_copernica_wrote_it() -> None:
    body = _compact(_envelope(ITEMS, nextid="12", total=2))

    page = listed_page(body)

    assert page is not None
    assert (page.ids, page.nextid) == ([7, 9], 12)
    first, second = page.items
    assert raw_text(first.fields).encode() in body
    assert json.loads(raw_text(first.fields)) == ITEMS[0]["fields"]
    assert json.loads(raw_text(first.interests)) == ["news"]
    assert (first.profile, first.created, first.modified) == (
        "70",
        "2024-10-27 02:30:00",
        "0000-00-00 00:00:00",
    )
    assert (raw_text(second.fields), raw_text(second.interests)) == ("", "")
    assert (second.profile, second.created, second.modified) == (None, None, None)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(json.dumps(_envelope(ITEMS), indent=1).encode(), id="line feeds"),
        pytest.param(_compact(_envelope(ITEMS)).replace(b',"data"', b',\t"data"'), id="tab"),
        pytest.param(_compact(_envelope(ITEMS)).replace(b'":', b'":\r'), id="carriage return"),
        pytest.param(json.dumps(_envelope(ITEMS)).encode(), id="surrogate pair escaped"),
        pytest.param(
            _compact(_envelope([{"ID": "1", "fields": {"a": "x"}}])).replace(b'"x"', b'"\\udc00"'),
            id="lone surrogate",
        ),
        pytest.param(
            _compact(_envelope([{"ID": "1", "fields": {"a": "x"}}])).replace(b"x", b"\xff"),
            id="not UTF-8 in kept text",
        ),
        pytest.param(_compact(_envelope([{"ID": "abc"}])), id="ID not a number"),
        pytest.param(_compact(_envelope([{"fields": {}}])), id="no ID"),
        pytest.param(_compact(_envelope([{"ID": True}])), id="ID a boolean"),
        pytest.param(
            _compact(_envelope([{"ID": "1", "created": 20240101}])), id="timestamp a number"
        ),
        pytest.param(_compact(_envelope([{"ID": "1"}], nextid="next")), id="nextid not a number"),
        pytest.param(b'{"start":0,"count":1,"data":[{"ID":"1","score":NaN}]}', id="NaN"),
        pytest.param(b'{"start":0,"data":[]}', id="no count"),
        pytest.param(b"[]", id="not an envelope"),
    ],
)
def test_a_page_that_cannot_be_kept_exactly_goes_the_general_way(body: bytes) -> None:
    assert listed_page(body) is None


def _client(answers: list[bytes], asked: list[httpx.Request]) -> CopernicaClient:
    token = _jwt({"exp": 2_000_000_000})

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth":
            return httpx.Response(200, text=f'"{token}"')
        asked.append(request)
        return httpx.Response(200, content=answers[len(asked) - 1])

    return CopernicaClient(
        "api-token",
        api_url="https://copernica.test/v4",
        auth_url="https://copernica.test/auth",
        transport=httpx.MockTransport(answer),
    )


@pytest.mark.parametrize("copying", [True, False])
def test_a_walk_for_copying_takes_each_page_the_way_it_can(copying: bool) -> None:
    """A compact page comes listed, a pretty-printed one as dictionaries, in the same walk;
    without ``copying`` every page comes as dictionaries."""
    first = [{"ID": str(number), "fields": {"n": number}} for number in (1, 2, 3)]
    second = [{"ID": "8", "fields": {"n": 8}}]
    answers = [_compact(_envelope(first)), json.dumps(_envelope(second), indent=2).encode()]
    asked: list[httpx.Request] = []

    pages = list(_client(answers, asked).paginate_keyset(5, page_size=3, copying=copying))

    assert [(page.count, page.last_id) for page in pages] == [(3, 3), (1, 8)]
    assert [request.url.params["fields[]"] for request in asked] == ["id>0", "id>3"]
    if copying:
        assert pages[0].listed is not None
        assert pages[0].items == []
        assert pages[0].listed.ids == [1, 2, 3]
        assert [raw_text(item.fields) for item in pages[0].listed.items] == [
            '{"n":1}',
            '{"n":2}',
            '{"n":3}',
        ]
    else:
        assert pages[0].listed is None
        assert pages[0].items == first
    assert pages[1].listed is None
    assert pages[1].items == second
