"""The sandbox's subprofile store in-process: generated JSON, live ids, cascades, cost.

The answers must be the bytes ``json.dumps`` of the documented shapes gives, whether a
subprofile comes from the generator or the overlay.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from api_client.filters import FieldFilter, parse_filter
from api_client.sandbox.query import select
from api_client.sandbox.records import SubprofileRecord
from api_client.sandbox.state import Account, SandboxState
from api_client.sandbox.subprofile_generation import SubprofileGenerator
from api_client.sandbox.subprofiles import Collection


def _dumps(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _record(collection: Collection, subprofile_id: int) -> SubprofileRecord:
    record = collection.record(subprofile_id)
    assert record is not None
    return record


def _collections(seed: int, subprofiles: int, profiles: int = 1000) -> list[Collection]:
    state = SandboxState(seed)
    state.create_account("Other", 7, collections=1, subprofiles=3)
    account = state.create_account("Big", profiles, collections=4, subprofiles=subprofiles)
    return account.database.collections


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("dataonly", [False, True])
def test_generated_json_is_json_dumps_of_the_generated_subprofile(
    seed: int, dataonly: bool
) -> None:
    for collection in _collections(seed, 200_000):
        picks = random.Random(seed).sample(range(200_000), 2000)
        for indices in ([0], list(range(15)), list(range(16)), list(range(1000)), picks):
            ids = [collection.base + index for index in indices]
            for subprofile_id, text in zip(
                ids, collection.entries_json(ids, dataonly), strict=True
            ):
                record = collection.record(subprofile_id)
                assert record is not None
                expected = collection.subprofile_json(subprofile_id, record, dataonly)
                assert text == _dumps(expected)


def test_the_fourth_collection_repeats_the_first_template_under_its_own_name() -> None:
    names = [collection.name for collection in _collections(1, 10)]
    assert names == ["orders", "visits", "tickets", "orders 2"]


def test_changed_and_removed_subprofiles_are_served_from_the_overlay() -> None:
    collection = _collections(3, 50, profiles=10)[0]
    ids = collection.ids_between(0, 50)
    changed = collection.materialise(ids[4])
    changed.fields["product"] = 'Zoë "x"'
    collection.remove(ids[5], "2025-01-01 00:00:00")
    texts = collection.entries_json(collection.ids_between(0, 10), False)
    assert json.loads(texts[4])["fields"]["product"] == 'Zoë "x"'
    assert json.loads(texts[5])["ID"] == str(ids[6])
    assert collection.live_count() == 49


def test_cached_subprofiles_answer_like_no_cache_through_changes_and_removals() -> None:
    """Generated subprofiles' JSON is kept in the state's cache like profiles' (``json_cache``):
    served again from it, a subprofile changed or removed after it was cached from the
    overlay, and a cache smaller than the answers within its bound."""
    worlds = []
    for capacity in (3000, 700, 0):  # all 2,400 answers, fewer, none
        state = SandboxState(5, profile_cache=capacity)
        state.create_account("Before", 20, collections=1, subprofiles=40)
        worlds.append((state, state.create_account("Shop", 300, collections=2, subprofiles=600)))

    def answers(account: Account) -> list[list[bytes]]:
        return [
            collection.entries_json(collection.ids_between(0, 600), dataonly)
            for collection in account.database.collections
            for dataonly in (False, True)
        ]

    first = [answers(account) for _, account in worlds]
    second = [answers(account) for _, account in worlds]  # from the cache where it holds them
    assert first == second
    assert first[0] == first[1] == first[2]
    caches = [state.profile_cache for state, _ in worlds]
    assert (len(caches[0]), caches[0].misses, caches[0].hits) == (2400, 2400, 2400)
    assert 0 < len(caches[1]) <= 700
    assert len(caches[2]) == 0

    for _, account in worlds:
        orders = account.database.collections[0]
        ids = orders.ids_between(0, 600)
        orders.materialise(ids[598]).fields["product"] = 'Zoë "x"'
        orders.remove(ids[599], "2025-01-01 00:00:00")
    again = [answers(account) for _, account in worlds]
    assert again[0] == again[1] == again[2]
    full, dataonly = again[0][0], again[0][1]
    assert len(full) == len(dataonly) == 599
    for answer in (full, dataonly):
        assert json.loads(answer[598])["fields"]["product"] == 'Zoë "x"'
    assert again[0][2:] == first[0][2:]  # the other collection as it was


def test_a_profiles_subprofiles_are_found_without_a_scan_and_go_with_it() -> None:
    state = SandboxState(2)
    account = state.create_account("Cascade", 10, collections=2, subprofiles=35)
    database = account.database
    profile_id = database.base + 3
    owned = [collection.ids_of_profile(profile_id) for collection in database.collections]
    assert [len(ids) for ids in owned] == [4, 4]
    for collection, ids in zip(database.collections, owned, strict=True):
        assert {_record(collection, item).profile for item in ids} == {profile_id}
    database.remove(profile_id, "2025-06-01 12:00:00")
    for collection, ids in zip(database.collections, owned, strict=True):
        assert collection.ids_of_profile(profile_id) == []
        assert collection.live_count() == 31
        assert {_record(collection, item).removed for item in ids} == {"2025-06-01 12:00:00"}


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The indices of every subprofile the generators produce (a record or its JSON)."""
    produced: list[int] = []
    record, serialized = SubprofileGenerator.record, SubprofileGenerator.serialized

    def counted_record(self: SubprofileGenerator, index: int) -> SubprofileRecord:
        produced.append(index)
        return record(self, index)

    def counted_serialized(
        self: SubprofileGenerator, indices: Sequence[int], dataonly: bool
    ) -> list[bytes]:
        produced.extend(indices)
        return serialized(self, indices, dataonly)

    monkeypatch.setattr(SubprofileGenerator, "record", counted_record)
    monkeypatch.setattr(SubprofileGenerator, "serialized", counted_serialized)
    return produced


def test_a_million_subprofiles_cost_nothing_until_read(generated: list[int]) -> None:
    """Nothing is generated when the collections are made; a page generates its own rows."""
    collection = _collections(5, 1_000_000, profiles=100_000)[0]
    assert generated == []
    assert collection.overlay == {}

    page = collection.entries_json(collection.ids_between(990_000, 991_000), False)

    assert sorted(generated) == list(range(990_000, 991_000))
    assert json.loads(page[0])["ID"] == str(collection.base + 990_000)


def test_a_changed_since_query_on_subprofiles_looks_at_changed_ones_only(
    generated: list[int],
) -> None:
    collection = _collections(4, 200_000)[0]
    changed = collection.ids_between(0, 200_000)[::40_000]
    for subprofile_id in changed:
        collection.materialise(subprofile_id).modified = "2026-10-25 02:30:00"
    collection.remove(changed[1], "2026-10-25 02:31:00")
    generated.clear()  # the changes above materialised their subprofiles
    selection = select(collection, _filters("modified>=2026-10-25 02:00:00"), None, False)
    assert generated == []  # no generated subprofile was looked at
    assert selection.ids(0, 10) == [changed[0], *changed[2:]]
    scanned = select(collection, _filters("modified>=2019-01-01 00:00:00", "id>0"), None, False)
    assert [item for item in scanned.ids(0, 200_000) if item in changed] == selection.ids(0, 10)


def _filters(*expressions: str) -> list[FieldFilter]:
    parsed = [parse_filter(expression) for expression in expressions]
    return [item for item in parsed if item is not None]
