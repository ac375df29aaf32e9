"""A page written as Copernica's own JSON text (``copy_text.page_prepare`` of a listed page)
leaves the mirror exactly as the same page decoded and encoded again does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction

from api_client.listed import listed_page
from linker.models import RemoteCollection, RemoteDatabase, RemoteProfile, RemoteSubprofile
from linker.sync import copy_text, upserts
from tests.factories import link_tenant, make_tenant

pytestmark = pytest.mark.django_db

FIELDS: list[object] = [
    {"name": 'Zoë \\ "quoted" / ]} 😀 \u2028', "city": "Gent"},
    {"escaped": "tab\tline\nreturn\rbell\b\f\x1f", "nested": {"list": [1, -2.5, True, None]}},
    {"big": 2**70, "small": 1e-7, "exact": 0.1},
    {},
    [],  # PHP's empty map
    None,
    "",
    0,
]


def _items(with_interests: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for number, fields in enumerate(FIELDS, start=1):
        item: dict[str, Any] = {
            "ID": str(number),
            "fields": fields,
            "profile": str(number * 10),
            "created": "2024-10-27 02:30:00",
            "modified": ["2024-03-31 12:00:00", "0000-00-00 00:00:00", None][number % 3],
        }
        if with_interests:
            item["interests"] = [["news", "a\\b"], [], None][number % 3]
        items.append(item)
    items.append({"ID": "99"})  # every key but the ID left out
    return items


def _body(items: list[dict[str, Any]], *, ascii_only: bool) -> bytes:
    envelope = {"start": 0, "limit": 1000, "count": len(items), "data": items}
    return json.dumps(envelope, ensure_ascii=ascii_only, separators=(",", ":")).encode()


def _write(mirror: upserts.Mirror, parent_id: int, items: list[dict[str, Any]], listed) -> None:
    ids = {"last_id": 99, "link_id": mirror_link_id(mirror, parent_id), "run_id": None}
    kept = items if listed is None else listed
    page = copy_text.page_prepare(mirror=mirror, items=kept, parent_id=parent_id, **ids)
    with transaction.atomic():
        upserts.page_write(page=page, straight_in=False)


def mirror_link_id(mirror: upserts.Mirror, parent_id: int) -> int:
    parent = RemoteDatabase if mirror is upserts.PROFILES else RemoteCollection
    return parent.objects.get(pk=parent_id).link_id


def _rows(model, **parent: int) -> dict[int, tuple]:
    columns = ["fields", "created", "modified"]
    columns.append("interests" if model is RemoteProfile else "profile_copernica_id")
    rows = model.objects.filter(**parent).values_list("copernica_id", *columns)
    return {row[0]: row[1:] for row in rows}


@pytest.mark.parametrize("ascii_only", [False, True], ids=["as characters", "as escapes"])
def test_profiles_and_subprofiles_written_as_copernicas_text_equal_those_encoded_again(
    ascii_only: bool,
) -> None:
    """Non-ASCII as characters or as ``\\u`` escapes (a surrogate pair's escape takes the
    general way: the first case has the emoji as a character, the second not listed)."""
    link = link_tenant(make_tenant(name="Listed pages"))
    databases = [
        RemoteDatabase.objects.create(link=link, copernica_id=n, name=f"D{n}") for n in (1, 2)
    ]
    collections = [
        RemoteCollection.objects.create(
            link=link, database=databases[0], copernica_id=n, name=f"C{n}"
        )
        for n in (3, 4)
    ]
    for mirror, parents, with_interests in [
        (upserts.PROFILES, [database.pk for database in databases], True),
        (upserts.SUBPROFILES, [collection.pk for collection in collections], False),
    ]:
        items = _items(with_interests)
        listed = listed_page(_body(items, ascii_only=ascii_only))
        if ascii_only:  # the emoji's escape is a surrogate pair
            assert listed is None
            items = [item for item in items if item.get("fields") != FIELDS[0]]
            listed = listed_page(_body(items, ascii_only=True))
        assert listed is not None
        _write(mirror, parents[0], items, listed)
        _write(mirror, parents[1], items, None)

        model = mirror.model
        as_listed = _rows(model, **{mirror.parent: parents[0]})
        as_encoded = _rows(model, **{mirror.parent: parents[1]})
        assert as_listed == as_encoded
        assert len(as_listed) == len(items)
        assert [as_listed[int(item["ID"])][0] for item in items] == [
            item.get("fields") or {} for item in items
        ]
    assert RemoteSubprofile.objects.filter(collection=collections[0], fields={}).count() == 6
