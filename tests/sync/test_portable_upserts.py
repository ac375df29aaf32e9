"""The mirror's writes where ``INSERT ... ON CONFLICT ... WHERE`` is missing (the SQLite demo):
a page's new rows are created, rows that differ from Copernica (or were marked removed) are
written, and the rest are left alone, as PostgreSQL's upsert does. The functions use the ORM
only, so they run here against PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from api_client import parse_timestamp
from linker.models import RemoteCollection, RemoteDatabase, RemoteProfile, RemoteSubprofile, SyncRun
from linker.sync.portable import upsert_profiles_portable, upsert_subprofiles_portable
from linker.sync.upserts import Written
from tests.factories import make_link, make_tenant

pytestmark = pytest.mark.django_db


def profile(copernica_id: int, city: str, *, created: str = "2024-01-02 10:00:00") -> dict:
    return {
        "ID": str(copernica_id),
        "fields": {"city": city},
        "interests": ["news"],
        "created": created,
        "modified": "2024-03-04 12:00:00",
    }


def subprofile(
    copernica_id: int, parent: int, city: str, *, created: str = "2024-01-02 10:00:00"
) -> dict:
    return {
        "ID": str(copernica_id),
        "profile": str(parent),
        "fields": {"city": city},
        "created": created,
        "modified": "2024-03-04 12:00:00",
    }


@pytest.fixture
def mirror() -> tuple[RemoteDatabase, RemoteCollection, SyncRun, SyncRun]:
    link = make_link(tenant=make_tenant(), api_token="token", sandbox_url="http://sandbox.invalid")
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    collection = RemoteCollection.objects.create(
        link=link, database=database, copernica_id=2, name="Orders"
    )
    first, second = (
        SyncRun.objects.create(link=link, mode="full", state="succeeded") for _ in range(2)
    )
    return database, collection, first, second


def test_a_profile_page_creates_new_rows_and_then_writes_only_what_differs(mirror) -> None:
    database, _, first, second = mirror
    write = {"link_id": database.link_id, "database_id": database.pk}
    page = [profile(11, "Delft"), profile(12, "Gouda"), profile(13, "Breda")]

    assert upsert_profiles_portable(run_id=first.pk, items=page, **write) == Written(3, 0, 0)
    row = RemoteProfile.objects.get(database=database, copernica_id=11)
    assert (row.fields, row.interests, row.last_run_id) == ({"city": "Delft"}, ["news"], first.pk)
    assert row.created == parse_timestamp("2024-01-02 10:00:00")
    assert row.modified == parse_timestamp("2024-03-04 12:00:00")

    assert upsert_profiles_portable(run_id=second.pk, items=page, **write) == Written(0, 0, 0)

    RemoteProfile.objects.filter(copernica_id=13).update(removed_at=timezone.now())
    page = [
        profile(11, "Leiden", created="2023-05-06 07:08:09"),  # changed at Copernica
        profile(12, "Gouda", created="2020-01-01 00:00:00"),  # only its created differs
        profile(13, "Breda"),  # back after it was marked removed
    ]
    assert upsert_profiles_portable(run_id=second.pk, items=page, **write) == Written(0, 2, 1)
    rows = {row.copernica_id: row for row in RemoteProfile.objects.filter(database=database)}
    assert (rows[11].fields, rows[11].last_run_id) == ({"city": "Leiden"}, second.pk)
    assert rows[11].created == parse_timestamp("2023-05-06 07:08:09")
    assert (rows[12].created, rows[12].last_run_id) == (
        datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
        first.pk,
    )
    assert (rows[13].removed_at, rows[13].last_run_id) == (None, second.pk)


def test_a_subprofile_page_creates_new_rows_and_then_writes_only_what_differs(mirror) -> None:
    _, collection, first, second = mirror
    write = {"link_id": collection.link_id, "collection_id": collection.pk}
    page = [subprofile(21, 11, "Delft"), subprofile(22, 12, "Gouda"), subprofile(23, 13, "Breda")]

    assert upsert_subprofiles_portable(run_id=first.pk, items=page, **write) == Written(3, 0, 0)
    row = RemoteSubprofile.objects.get(collection=collection, copernica_id=21)
    assert (row.profile_copernica_id, row.fields, row.last_run_id) == (
        11,
        {"city": "Delft"},
        first.pk,
    )
    assert row.created == parse_timestamp("2024-01-02 10:00:00")

    assert upsert_subprofiles_portable(run_id=second.pk, items=page, **write) == Written(0, 0, 0)

    RemoteSubprofile.objects.filter(copernica_id=23).update(removed_at=timezone.now())
    page = [
        subprofile(21, 14, "Delft", created="2023-05-06 07:08:09"),  # moved to another profile
        subprofile(22, 12, "Gouda", created="2020-01-01 00:00:00"),  # only its created differs
        subprofile(23, 13, "Breda"),  # back after it was marked removed
    ]
    assert upsert_subprofiles_portable(run_id=second.pk, items=page, **write) == Written(0, 2, 1)
    rows = {row.copernica_id: row for row in RemoteSubprofile.objects.filter(collection=collection)}
    assert (rows[21].profile_copernica_id, rows[21].last_run_id) == (14, second.pk)
    assert rows[21].created == parse_timestamp("2023-05-06 07:08:09")
    assert (rows[22].created, rows[22].last_run_id) == (
        datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
        first.pk,
    )
    assert (rows[23].removed_at, rows[23].last_run_id) == (None, second.pk)
