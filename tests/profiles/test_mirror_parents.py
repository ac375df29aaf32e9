"""The profile mirror's parents, checked per statement by migration 0019's triggers where
foreign-key constraints checked each row: what the constraints refused is still refused."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from linker.models import Link, RemoteDatabase, RemoteProfile
from tests.factories import link_tenant, make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def database() -> RemoteDatabase:
    link = link_tenant(make_tenant(name="Parents"))
    return RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")


def _profile(database: RemoteDatabase, copernica_id: int, **parents: int) -> RemoteProfile:
    return RemoteProfile(
        link_id=parents.get("link_id", database.link_id),
        database_id=parents.get("database_id", database.pk),
        copernica_id=copernica_id,
        fields={"email": f"p{copernica_id}@example.com"},
    )


def test_profiles_of_existing_parents_are_written(database: RemoteDatabase) -> None:
    RemoteProfile.objects.bulk_create([_profile(database, i) for i in range(3)])
    assert RemoteProfile.objects.filter(database=database).count() == 3


@pytest.mark.parametrize("missing", ["link_id", "database_id"])
def test_a_profile_of_a_missing_link_or_database_is_refused(
    database: RemoteDatabase, missing: str
) -> None:
    with pytest.raises(IntegrityError, match="does not exist"), transaction.atomic():
        RemoteProfile.objects.bulk_create(
            [_profile(database, 1), _profile(database, 2, **{missing: 987_654})]
        )
    assert not RemoteProfile.objects.filter(database=database).exists()


@pytest.mark.parametrize(
    ("table", "column"), [("linker_link", "link_id"), ("linker_remotedatabase", "database_id")]
)
def test_a_parent_with_profiles_cannot_be_deleted_behind_djangos_back(
    database: RemoteDatabase, table: str, column: str
) -> None:
    RemoteProfile.objects.bulk_create([_profile(database, 1)])
    parent = database.link_id if column == "link_id" else database.pk
    with (
        pytest.raises(IntegrityError, match="still has profiles"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [parent])  # noqa: S608 - literals


def test_deleting_a_link_still_takes_its_profiles_with_it(database: RemoteDatabase) -> None:
    RemoteProfile.objects.bulk_create([_profile(database, i) for i in range(2)])
    Link.objects.filter(pk=database.link_id).delete()
    assert not RemoteProfile.objects.filter(database_id=database.pk).exists()
    assert not RemoteDatabase.objects.filter(pk=database.pk).exists()
