"""The request counts and log of a session, as a run's end writes them in its transaction: one
statement each (issue 16), whatever the counts met in the ledger."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from api_client import RequestRecord
from linker.linking.request_log import RequestLogBuffer
from linker.models import RequestLedger, RequestLogEntry
from linker.platform.ledger import RequestTally, request_ledger_add
from tests.factories import link_tenant, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"].split()[0].upper() for query in queries.captured_queries]


def test_a_flush_in_a_transaction_is_one_statement_for_the_counts_and_one_for_the_log() -> None:
    link = link_tenant(make_tenant(name="Counted"))
    tally, log = RequestTally(link, "acc"), RequestLogBuffer(link)
    for status in (200, 200, 429, 503, None):
        record = RequestRecord("GET", "/v4/databases", status, 0.01, 1)
        tally.record(record)
        log.record(record)

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        tally.flush()
        log.flush()

    # No UPDATE-then-INSERT, no savepoints.
    assert _statements(queries) == ["INSERT", "INSERT"]
    row = RequestLedger.objects.get(link=link)
    assert (row.requests, row.errors, row.rate_limited) == (5, 2, 1)
    assert RequestLogEntry.objects.filter(link=link).count() == 5


def test_counts_add_to_the_row_of_their_day() -> None:
    link = link_tenant(make_tenant(name="Added"))
    day = date(2025, 3, 30)
    request_ledger_add(
        link_id=link.pk, account_key="acc", day=day, requests=3, errors=1, rate_limited=0
    )
    request_ledger_add(
        link_id=link.pk, account_key="other", day=day, requests=4, errors=0, rate_limited=2
    )
    request_ledger_add(
        link_id=link.pk, account_key="acc", day=day, requests=0, errors=0, rate_limited=0
    )

    row = RequestLedger.objects.get(link=link, day=day)
    assert (row.account_key, row.requests, row.errors, row.rate_limited) == ("acc", 7, 1, 2)


def test_an_attempt_with_values_outside_the_columns_is_logged_within_them() -> None:
    link = link_tenant(make_tenant(name="Odd"))
    log = RequestLogBuffer(link)
    log.record(RequestRecord("get\x00x", "/v4/profile/1\x00/fields", 70000, 1e7, 99999))

    with transaction.atomic():
        log.flush()

    entry = RequestLogEntry.objects.get(link=link)
    assert (entry.method, entry.path, entry.status) == ("GETX", "/v4/profile/1/fields", None)
    assert (entry.duration_ms, entry.attempt) == (2**31 - 1, 32767)
