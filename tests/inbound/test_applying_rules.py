"""Applying the inbox keeps its rules on both of its paths: the set-based one (PostgreSQL
statements, contents moved inside the database) and the ORM one the SQLite demo uses, in one
batch and across batches: in order per (sub)profile, an older or unchanged event changes
nothing, a delete removes (a profile's also its subprofiles), an update for a profile the
mirror lacks is fetched, the fetches of a batch together."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from api_client import format_timestamp, parse_timestamp
from api_client.sandbox.control import SandboxControl
from linker.inbound import applying, batch_reads
from linker.inbound.receiver import event_fields
from linker.models import InboundEvent, RemoteProfile, RemoteSubprofile
from tests.inbound.conftest import Hooked


@pytest.fixture(params=["set-based", "orm"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "orm":
        monkeypatch.setattr(batch_reads, "set_based", lambda: False)
    return str(request.param)


def stored(hooked: Hooked, document: dict[str, Any]) -> InboundEvent:
    """``document`` stored as the receiver stores an accepted delivery."""
    columns = event_fields(document)
    assert columns is not None
    body = json.dumps(document, sort_keys=True).encode()
    return InboundEvent.objects.create(
        link_id=hooked.link_id,
        body_sha256=hashlib.sha256(body).hexdigest(),
        payload=document,
        **columns,
    )


def outcomes(events: list[InboundEvent]) -> list[tuple[str, str]]:
    by_pk = {
        e.pk: (e.state, e.note) for e in InboundEvent.objects.filter(pk__in=[e.pk for e in events])
    }
    return [by_pk[e.pk] for e in events]


@pytest.mark.parametrize("batch", [1000, 2])
def test_events_of_a_profile_apply_in_order_and_only_newer_contents_change_the_mirror(
    hooked: Callable[..., Hooked], path: str, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(applying, "BATCH", batch)
    account = hooked(profiles=4, register=False)
    linked = account.linked
    database = linked.account.database_id
    mirror = linked.mirror()
    p, q, r = sorted(mirror)[:3]
    base = RemoteProfile.objects.get(link=linked.link, copernica_id=p).modified
    assert base is not None

    def update(profile: int, seconds: int, city: str, **extra: str) -> dict[str, Any]:
        fields, interests, _ = mirror[profile]
        return {
            "action": "update",
            "profile": str(profile),
            "database": database,
            "fields": {**fields, "city": city},
            "interests": interests,
            "modified": format_timestamp(base + timedelta(seconds=seconds)),
            **extra,
        }

    r_fields, r_interests, r_modified = mirror[r]
    events = [
        stored(account, update(p, 10, "Ten")),
        stored(account, update(p, 5, "Five")),  # reordered: older than the mirror by then
        stored(account, update(p, 10, "Ten", webhook="2")),  # the same change, another body
        stored(account, update(p, 20, "Twenty")),
        stored(account, {"action": "delete", "profile": str(q), "database": database}),
        stored(account, update(q, 30, "Late")),  # after its delete
        stored(
            account,
            {
                "action": "update",
                "profile": str(r),
                "database": database,
                "fields": r_fields,
                "interests": r_interests,
                "modified": r_modified,
            },
        ),
    ]

    assert account.apply() == len(events)

    assert outcomes(events) == [
        ("applied", "updated"),
        ("skipped", "older than the mirror"),
        ("skipped", "no change"),
        ("applied", "updated"),
        ("applied", "removed"),
        ("skipped", "removed here already"),
        ("skipped", "no change"),
    ]
    after = linked.mirror()
    assert after[p] == (
        {**mirror[p][0], "city": "Twenty"},
        mirror[p][1],
        format_timestamp(base + timedelta(seconds=20)),
    )
    assert q not in after
    assert after[r] == mirror[r]
    assert account.apply() == 0  # idempotent: nothing pending, nothing changes


def test_updates_for_profiles_the_mirror_lacks_are_fetched_together(
    hooked: Callable[..., Hooked], path: str, sandbox: SandboxControl
) -> None:
    account = hooked(profiles=6, register=False)
    linked = account.linked
    database = linked.account.database_id
    missing = sorted(linked.mirror())[:3]
    RemoteProfile.objects.filter(link=linked.link, copernica_id__in=missing).delete()
    with linked.client() as client:
        for number, profile in enumerate(missing):
            client.update_profile(profile, {"city": f"Fetched {number}"})
    events = [
        stored(
            account,
            {
                "action": "update",
                "profile": str(profile),
                "database": database,
                "fields": {"city": "Stale"},  # what counts is what Copernica shows now
                "modified": "2001-01-01 00:00:00",
            },
        )
        for profile in missing
    ]
    sandbox.reset_stats()

    assert account.apply() == 3

    requests = sandbox.stats()["requests"]
    assert requests.get("GET /v4/profile/{id}") == 3, requests
    assert outcomes(events) == [("applied", "created")] * 3
    assert linked.mirror() == linked.remote()


def test_a_profile_delete_removes_its_subprofiles_and_subprofile_events_apply(
    hooked: Callable[..., Hooked], path: str
) -> None:
    account = hooked(profiles=3, collections=1, subprofiles=2, register=False)
    linked = account.linked
    subprofiles = linked.mirror_subprofiles()
    owner = subprofiles[min(subprofiles)][1]
    others = {sub: values for sub, values in subprofiles.items() if values[1] != owner}
    other_id = min(others)
    changed = parse_timestamp(others[other_id][3])
    assert changed is not None
    other = stored(
        account,
        {
            "action": "update",
            "subprofile": str(other_id),
            "profile": str(others[other_id][1]),
            "collection": str(others[other_id][0]),
            "fields": {**others[other_id][2], "note": "changed"},
            "modified": format_timestamp(changed + timedelta(seconds=5)),
        },
    )
    delete = stored(
        account,
        {"action": "delete", "profile": str(owner), "database": linked.account.database_id},
    )

    assert account.apply() == 2

    assert outcomes([other, delete]) == [("applied", "updated"), ("applied", "removed")]
    after = linked.mirror_subprofiles()
    assert not {sub for sub, values in after.items() if values[1] == owner}
    assert (
        RemoteSubprofile.objects.filter(
            link=linked.link, profile_copernica_id=owner, removed_at=None
        ).count()
        == 0
    )
    assert after[other_id][2] == {**others[other_id][2], "note": "changed"}


@pytest.mark.parametrize(
    "value",
    [
        "2026-07-01 12:00:00",
        "2026-10-25 02:30:00",  # the repeated autumn hour: the earlier instant
        "2026-10-25 03:30:00",
        "2026-03-29 02:30:00",  # the hour that does not exist in spring
        "2024-02-29 23:59:59",
        "2026-02-29 10:00:00",
        "2026-04-31 10:00:00",
        "2026-01-01 24:00:00",
        "2026-01-01 12:60:00",
        "0000-00-00 00:00:00",
        "2026-01-01T12:00:00",
        "garbage",
        "",
    ],
)
def test_timestamps_read_in_postgresql_equal_the_clients_reading(db: None, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT linker_copernica_time(%s)", [value])
        (in_sql,) = cursor.fetchone()
    assert in_sql == parse_timestamp(value)


def test_created_is_read_by_the_receiver_and_the_same_without_it(
    hooked: Callable[..., Hooked], path: str
) -> None:
    """The receiver reads ``created`` into the inbox (not each batch, in SQL); an event
    stored without that column (before it existed) gives the mirror the same instant."""
    account = hooked(profiles=2, register=False)
    database = account.linked.account.database_id

    def create(profile: int) -> dict[str, Any]:
        return {
            "action": "create",
            "profile": str(profile),
            "database": database,
            "fields": {"email": f"{profile}@example.nl"},
            "created": "2026-10-25 02:30:00",
            "modified": "2026-10-26 09:00:00",
        }

    read = stored(account, create(900_001))
    unread = stored(account, create(900_002))
    InboundEvent.objects.filter(pk=unread.pk).update(created=None)
    expected = parse_timestamp("2026-10-25 02:30:00")
    assert expected is not None
    assert read.created == expected

    assert account.apply() == 2

    rows = RemoteProfile.objects.filter(link_id=account.link_id, copernica_id__gte=900_001)
    assert sorted(rows.values_list("created", flat=True)) == [expected, expected]
