"""An incremental run's ``since`` (``Source.newest_modified``) reads one index entry, even when
PostgreSQL's statistics do not know the database yet: they were taken before its rows came (a
first sync the statistics have not seen). Against PostgreSQL; the plan is read with EXPLAIN
ANALYZE, so what is asserted is the rows PostgreSQL read, not a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from linker.models import RemoteDatabase, RemoteProfile
from linker.sync.sources import PROFILE_SOURCE, Source
from tests.factories import link_tenant, make_tenant
from tests.sync.table_settings import autovacuum_off

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 20_000
NEWEST = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def mirror_held() -> Iterator[None]:
    """The profile mirror's statistics kept as the test leaves them."""
    with autovacuum_off(RemoteProfile._meta.db_table):
        yield


def _fill(database: RemoteDatabase) -> None:
    """``ROWS`` profiles, each with an e-mail address, the newest modified at ``NEWEST``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {RemoteProfile._meta.db_table}
                (link_id, database_id, copernica_id, fields, interests, created, modified)
            SELECT %s, %s, g, jsonb_build_object('email', md5(g::text) || '@example.invalid'),
                '{{}}'::jsonb, %s, %s - g * interval '1 second'
            FROM generate_series(0, %s - 1) AS g""",  # noqa: S608 - the model's table
            [database.link_id, database.pk, NEWEST, NEWEST, ROWS],
        )


def _rows_read(sql: str) -> int:
    """The rows every scan of the statement's plan returned, by EXPLAIN ANALYZE."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()

    def scanned(node: dict[str, Any]) -> int:
        own = node["Actual Rows"] * node["Actual Loops"] if "Scan" in node["Node Type"] else 0
        return own + sum(scanned(child) for child in node.get("Plans", []))

    return scanned(plan[0]["Plan"])


def test_the_newest_modified_is_one_index_entry_when_the_statistics_do_not_know_the_database(
    mirror_held: None,
) -> None:
    link = link_tenant(make_tenant())
    known = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Known")
    _fill(known)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {RemoteProfile._meta.db_table}")
    new = RemoteDatabase.objects.create(link=link, copernica_id=2, name="New")
    _fill(new)  # after the statistics were taken: they hold no row of it
    source = Source(PROFILE_SOURCE, new.pk, new.copernica_id)

    with CaptureQueriesContext(connection) as queries:
        newest = source.newest_modified()

    assert newest == NEWEST
    (query,) = queries.captured_queries
    assert _rows_read(query["sql"]) <= 1  # not the database's 20,000 rows
    assert Source(PROFILE_SOURCE, new.pk + 1000, 3).newest_modified() is None


def test_a_source_with_rows_but_no_modified_has_no_newest(mirror_held: None) -> None:
    link = link_tenant(make_tenant())
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Undated")
    RemoteProfile.objects.create(
        link=link, database=database, copernica_id=5, fields={}, modified=None
    )
    source = Source(PROFILE_SOURCE, database.pk, database.copernica_id)

    assert source.newest_modified() is None
    RemoteProfile.objects.filter(database=database).update(modified=NEWEST - timedelta(days=1))
    assert source.newest_modified() == NEWEST - timedelta(days=1)
