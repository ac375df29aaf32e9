"""The sandbox's fast profile serving: pre-serialized JSON, its bounded cache, keyset paging.

In-process (no server): the answers must be the bytes ``json.dumps`` of the documented
shapes gives, whether a profile comes from the cache, the generator or the overlay.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from api_client.sandbox import query as sandbox_query
from api_client.sandbox.http import Request, Response
from api_client.sandbox.state import Account, SandboxState
from api_client.sandbox.store import Database
from api_client.sandbox.surface import CopernicaSurface


def _dumps(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class World:
    def __init__(self, profiles: int, *, cache: int, seed: int = 3) -> None:
        self.state = SandboxState(seed, profile_cache=cache)
        self.state.now = lambda: "2025-02-03 04:05:06"  # type: ignore[method-assign]
        self.account: Account = self.state.create_account("Fast", profiles)
        self.database: Database = self.account.database
        self.surface = CopernicaSurface(self.state)
        self.jwt = self.state.issue_jwt(self.state.tokens[self.account.api_tokens[0]])

    def call(self, method: str, path: str, query: Any = (), body: object = None) -> Response:
        request = Request(
            method,
            path,
            list(query),
            {"authorization": f"Bearer {self.jwt}", "content-type": "application/json"},
            b"" if body is None else _dumps(body),
            "http://sandbox",
        )
        return self.surface.handle(request)

    def page(self, query: Any, host: str = "/v4") -> bytes:
        response = self.call("GET", f"{host}/database/{self.database.id}/profiles", query)
        assert response.status == 200
        return response.body if response.chunks is None else b"".join(response.chunks)


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("dataonly", [False, True])
def test_generated_json_is_json_dumps_of_the_generated_profile(seed: int, dataonly: bool) -> None:
    state = SandboxState(seed)
    state.create_account("Other", 17)
    database = state.create_account("Big", 2_000_000).database
    picks = random.Random(seed).sample(range(2_000_000), 3000)
    for indices in ([5], list(range(15)), list(range(16)), list(range(1000)), picks, [1_999_999]):
        texts = database.generated_json(indices, dataonly)
        for index, text in zip(indices, texts, strict=True):
            record = database.generate(index)
            assert text == _dumps(database.profile_json(database.base + index, record, dataonly))


def test_ids_between_matches_a_plain_scan() -> None:
    database = SandboxState(1).create_account("Gaps", 3000).database
    chooser = random.Random(4)
    for profile_id in chooser.sample(range(database.base, database.base + 3000), 400):
        database.remove(profile_id, "2025-01-01 00:00:00")
    for profile_id in (database.base, database.base + 1, database.base + 2999):
        if profile_id not in database.removed_generated:
            database.remove(profile_id, "2025-01-01 00:00:00")
    removed = set(database.removed_generated)
    live = [i for i in range(database.base, database.base + 3000) if i not in removed]
    for _ in range(300):
        start = chooser.randrange(-5, 2700)
        stop = start + chooser.randrange(0, 700)
        assert database.ids_between(start, stop) == live[max(start, 0) : stop]


QUERIES = [
    [("limit", "1000")],
    [("start", "120"), ("limit", "1000"), ("total", "false")],
    [("fields[]", "id>100150"), ("orderby", "id"), ("limit", "1000"), ("total", "false")],
    [("fields[]", "id>100150"), ("limit", "300"), ("dataonly", "true")],
    [("order", "desc"), ("limit", "50")],
    [("orderby", "city"), ("limit", "40")],
    [("start", "-3")],
    [("limit", "0")],
]


@pytest.mark.parametrize("query", QUERIES)
def test_list_answers_keep_the_documented_envelope(query: list[tuple[str, str]]) -> None:
    world = World(2500, cache=1000)
    for _ in range(2):  # generated, then from the cache
        body = world.page(query)
        document = json.loads(body, object_pairs_hook=lambda pairs: pairs)
        keys = [key for key, _ in document]
        assert keys[:4] == ["start", "limit", "count", "data"]
        assert keys[4:] in ([], ["total"], ["nextid"], ["nextid", "total"])
        assert _dumps(json.loads(body)) == body


def test_cache_and_overlay_answer_like_no_cache() -> None:
    cached, plain = World(3000, cache=700), World(3000, cache=0)
    queries = [
        *QUERIES,
        [("limit", "2500"), ("start", "10")],
        [("limit", "4000"), ("dataonly", "1")],
    ]
    hosts = ("/v4", "/rest/v4")
    for query in queries:
        for host in hosts:
            assert cached.page(query, host) == plain.page(query, host)
    assert 0 < len(cached.state.profile_cache) <= 700
    assert len(plain.state.profile_cache) == 0
    base = cached.database.base
    for world in (cached, plain):
        world.call("PUT", f"/v4/profile/{base + 1}/fields", body={"firstname": 'Zoë "x"'})
        world.call("PUT", f"/v4/profile/{base + 2}", body={"interests": ["sports"]})
        world.call("DELETE", f"/v4/profile/{base + 3}")
        world.call("DELETE", f"/v4/profile/{base + 2000}")
    for query in queries:
        for host in hosts:
            assert cached.page(query, host) == plain.page(query, host)
    profiles = json.loads(cached.page([("limit", "5")]))["data"]
    assert profiles[1]["fields"]["firstname"] == 'Zoë "x"'
    assert profiles[2]["interests"] == ["sports"]
    assert str(base + 3) not in [item["ID"] for item in profiles]  # removed: not listed
    assert json.loads(cached.page([("start", "1999"), ("limit", "1")]))["data"][0]["ID"] == str(
        base + 2001
    )


def test_created_profiles_are_served_and_the_cache_stays_bounded() -> None:
    world = World(1500, cache=300)
    world.page([("limit", "1000")])
    response = world.call(
        "POST", f"/v4/database/{world.database.id}/profiles", body={"fields": {"city": "Gent"}}
    )
    created = int(dict(response.headers)["X-Created"])
    last = world.database.base + 1499
    tail = json.loads(world.page([("fields[]", f"id>{last - 1}"), ("orderby", "id")]))
    assert [item["ID"] for item in tail["data"]] == [str(last), str(created)]
    assert tail["data"][1]["fields"]["city"] == "Gent"
    streamed = json.loads(world.page([("limit", "5000")], host="/rest/v4"))
    assert streamed["count"] == 1501
    assert streamed["data"][-1]["ID"] == str(created)
    assert len(world.state.profile_cache) <= 300


@pytest.mark.parametrize(
    ("expression", "fast"),
    [
        ("modified>=2025-02-01 00:00:00", True),
        ("modified>2025-02-03 04:05:05", True),
        ("modified==2025-02-03 04:05:06", True),
        ("modified>=2019-01-01 00:00:00", False),
        ("modified<2025-02-01 00:00:00", False),
    ],
)
def test_changed_since_filter_answers_as_a_full_scan_does(expression: str, fast: bool) -> None:
    world = World(3000, cache=0)
    first = world.database.base
    for offset in (5, 1200, 2999):
        response = world.call(
            "PUT", f"/v4/profile/{first + offset}", body={"fields": {"city": "Zeist"}}
        )
        assert response.status == 204
    world.call("DELETE", f"/v4/profile/{first + 1200}")
    everything = []
    for start in range(0, 3000, 1000):
        page = json.loads(world.page([("start", str(start)), ("limit", "1000")]))
        everything.extend(page["data"])
    operator = expression[len("modified") :][:2].rstrip("0123456789 -:")
    value = expression[len("modified") + len(operator) :]
    compare = {">=": str.__ge__, ">": str.__gt__, "==": str.__eq__, "<": str.__lt__}[operator]
    expected = [p["ID"] for p in everything if compare(p["modified"], value)]
    answer = json.loads(world.page([("fields[]", expression), ("limit", "1000")]))
    assert [p["ID"] for p in answer["data"]] == expected[:1000]
    assert answer["total"] == len(expected)
    if fast:
        assert [int(p) for p in expected] == [first + 5, first + 2999]


@pytest.mark.parametrize(
    "since",
    [
        "2016-01-01 00:00:00",
        "2023-06-01 12:00:00",
        "2024-10-27 02:30:00",  # the repeated autumn hour
        "2024-12-31 22:00:00",
        "2025-02-03 04:05:06",  # the changes' own time
        "2024-12-31",  # not a timestamp: a scan
    ],
)
@pytest.mark.parametrize("operator", [">=", ">", "=="])
def test_a_modified_filter_selects_what_a_scan_of_every_profile_selects(
    since: str, operator: str
) -> None:
    """The index on generated ``modified`` only narrows the scan: changed, created and removed
    profiles answer as the whole account read one by one does."""
    world = World(3000, cache=100)
    base = world.database.base
    for offset in (5, 6, 2999):
        world.call("PUT", f"/v4/profile/{base + offset}", body={"fields": {"city": "Moved"}})
    for offset in (7, 1500):
        world.call("DELETE", f"/v4/profile/{base + offset}")
    world.call("POST", f"/v4/database/{world.database.id}/profiles", body={"fields": {"age": 3}})
    expression = f"modified{operator}{since}"
    scanned = [
        profile_id
        for profile_id in world.database.all_live_ids()
        if sandbox_query.matches(
            world.database,
            profile_id,
            world.database.record(profile_id),  # type: ignore[arg-type]
            [sandbox_query.parse_filter(expression)],  # type: ignore[list-item]
        )
    ]

    answer = json.loads(
        world.page([("fields[]", expression), ("limit", "1000"), ("orderby", "id")])
    )

    assert [int(item["ID"]) for item in answer["data"]] == scanned[:1000]
    assert answer["count"] == min(len(scanned), 1000)
