"""``rows_update``: many rows, each with its own values, in one statement, written exactly as
they are in memory (on PostgreSQL as one JSON document, on SQLite by ``bulk_update``)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext

from linker.models import ProfileChange, RemoteDatabase, RemoteProfile
from linker.platform.row_updates import rows_update
from linker.profiles.batch_finishing import _FINISHED_FIELDS
from tests.conftest import World
from tests.factories import link_tenant

State = ProfileChange.State


def test_each_row_gets_its_own_values_nulls_times_and_json_as_they_are(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    changes = ProfileChange.objects.bulk_create(
        ProfileChange(
            link=link,
            database=database,
            kind=ProfileChange.Kind.UPDATE,
            copernica_profile_id=n,
            state=State.SENDING,
            conflict={"was": "set"},
            sending_since=datetime(2024, 1, 1, tzinfo=UTC),
        )
        for n in range(3)
    )
    untouched = ProfileChange.objects.create(
        link=link, database=database, kind=ProfileChange.Kind.UPDATE, copernica_profile_id=9
    )
    done_at = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    first, second, third = changes
    first.state, first.finished_at, first.sending_since = State.DONE, done_at, None
    first.attempt_log = [{"outcome": 'Said "no" \\ then ünïcode \N{SNOWMAN}', "attempt": 2}]
    first.conflict = None  # SQL NULL, as Django stores a JSON field's None
    second.state, second.error_message, second.attempts = State.QUEUED, "it's 'quoted'", 7
    second.conflict = {"fields": {"a": ["b", None, 1.5]}, "modified": "2024-01-01"}
    third.in_doubt, third.copernica_subprofile_id = True, 2**40
    with CaptureQueriesContext(connection) as queries:
        rows_update(changes, _FINISHED_FIELDS)
    writes = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(writes) == 1
    stored = {row.pk: row for row in ProfileChange.objects.all()}
    assert stored[first.pk].state == State.DONE
    assert stored[first.pk].finished_at == done_at  # to the microsecond
    assert stored[first.pk].sending_since is None
    assert stored[first.pk].attempt_log == first.attempt_log
    assert stored[first.pk].conflict is None
    assert ProfileChange.objects.filter(pk=first.pk, conflict__isnull=True).exists()
    assert (stored[second.pk].state, stored[second.pk].attempts) == (State.QUEUED, 7)
    assert stored[second.pk].error_message == "it's 'quoted'"
    assert stored[second.pk].conflict == second.conflict
    assert stored[second.pk].sending_since == datetime(2024, 1, 1, tzinfo=UTC)
    assert (stored[third.pk].in_doubt, stored[third.pk].copernica_subprofile_id) == (True, 2**40)
    assert stored[third.pk].state == State.SENDING
    assert stored[untouched.pk].state == State.QUEUED


def test_mirror_rows_get_their_fields_and_interests(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Customers")
    profiles = RemoteProfile.objects.bulk_create(
        RemoteProfile(link=link, database=database, copernica_id=n, fields={"city": "Old"})
        for n in range(2)
    )
    profiles[0].fields = {"city": "Delft", "email": "a@example.com"}
    profiles[0].interests = ["golf", "tennis"]
    profiles[1].fields = {}
    rows_update(profiles, ["fields", "interests"])
    stored = {row.copernica_id: row for row in RemoteProfile.objects.filter(link=link)}
    assert (stored[0].fields, stored[0].interests) == (profiles[0].fields, ["golf", "tennis"])
    assert (stored[1].fields, stored[1].interests) == ({}, [])
