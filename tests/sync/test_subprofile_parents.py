"""The subprofile mirror's parents, checked per statement by migration 0020's triggers where
foreign-key constraints checked each row: what the constraints refused is still refused."""

from __future__ import annotations

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from linker.models import Link, RemoteCollection, RemoteDatabase, RemoteSubprofile
from linker.sync import copy_text, upserts
from tests.factories import link_tenant, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection() -> RemoteCollection:
    link = link_tenant(make_tenant(name="Subprofile parents"))
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    return RemoteCollection.objects.create(
        link=link, database=database, copernica_id=2, name="Orders"
    )


def _subprofile(
    collection: RemoteCollection, copernica_id: int, **parents: int
) -> RemoteSubprofile:
    return RemoteSubprofile(
        link_id=parents.get("link_id", collection.link_id),
        collection_id=parents.get("collection_id", collection.pk),
        copernica_id=copernica_id,
        profile_copernica_id=copernica_id * 10,
        fields={"order": f"o{copernica_id}"},
    )


def test_subprofiles_of_existing_parents_are_written(collection: RemoteCollection) -> None:
    RemoteSubprofile.objects.bulk_create([_subprofile(collection, i) for i in range(3)])
    assert RemoteSubprofile.objects.filter(collection=collection).count() == 3


@pytest.mark.parametrize("missing", ["link_id", "collection_id"])
def test_a_subprofile_of_a_missing_link_or_collection_is_refused(
    collection: RemoteCollection, missing: str
) -> None:
    with pytest.raises(IntegrityError, match="does not exist"), transaction.atomic():
        RemoteSubprofile.objects.bulk_create(
            [_subprofile(collection, 1), _subprofile(collection, 2, **{missing: 987_654})]
        )
    assert not RemoteSubprofile.objects.filter(collection=collection).exists()


@pytest.mark.parametrize("straight_in", [True, False])
def test_a_synced_page_naming_a_missing_collection_is_refused(
    collection: RemoteCollection, straight_in: bool
) -> None:
    """The sync's own writes (COPY straight in, or staged and upserted) are checked too (on
    psycopg's own cursor, so psycopg's error)."""
    page = copy_text.page_prepare(
        mirror=upserts.SUBPROFILES,
        items=[{"ID": "5", "profile": "50", "fields": {}}],
        last_id=5,
        link_id=collection.link_id,
        parent_id=987_654,
        run_id=None,
    )
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="does not exist"),
        transaction.atomic(),
    ):
        upserts.page_write(page=page, straight_in=straight_in)
    assert not RemoteSubprofile.objects.filter(copernica_id=5).exists()


@pytest.mark.parametrize(
    ("table", "column"),
    [("linker_link", "link_id"), ("linker_remotecollection", "collection_id")],
)
def test_a_parent_with_subprofiles_cannot_be_deleted_behind_djangos_back(
    collection: RemoteCollection, table: str, column: str
) -> None:
    RemoteSubprofile.objects.bulk_create([_subprofile(collection, 1)])
    parent = collection.link_id if column == "link_id" else collection.pk
    with (
        pytest.raises(IntegrityError, match="still has subprofiles"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [parent])  # noqa: S608 - literals
    assert RemoteSubprofile.objects.filter(collection=collection).count() == 1


def test_deleting_a_collection_takes_its_subprofiles_with_it(
    collection: RemoteCollection,
) -> None:
    RemoteSubprofile.objects.bulk_create([_subprofile(collection, i) for i in range(2)])
    RemoteCollection.objects.filter(pk=collection.pk).delete()
    assert not RemoteSubprofile.objects.filter(collection_id=collection.pk).exists()


def test_deleting_a_link_still_takes_its_subprofiles_with_it(
    collection: RemoteCollection,
) -> None:
    RemoteSubprofile.objects.bulk_create([_subprofile(collection, i) for i in range(2)])
    Link.objects.filter(pk=collection.link_id).delete()
    assert not RemoteSubprofile.objects.filter(link_id=collection.link_id).exists()
    assert not RemoteCollection.objects.filter(pk=collection.pk).exists()
