"""The request ledger: requests made to Copernica per account and day.

The client reports every HTTP attempt to :meth:`RequestTally.record` (its ``on_request``
hook); the tally counts in memory and :meth:`RequestTally.flush` adds the counts to the
database in one statement, once per task chunk, never once per request.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date

from django.db import connection
from django.utils import timezone

from api_client import RequestRecord
from linker.models import Link, RequestLedger


class RequestTally:
    """In-memory request counts of one link, flushed to :class:`RequestLedger`."""

    def __init__(self, link: Link, account_key: str) -> None:
        self.link_id = link.pk
        self.account_key = account_key[:64]
        self.total = 0
        self.rate_limited_seen = 0
        self._counts: Counter[tuple[date, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, record: RequestRecord) -> None:
        day = timezone.localdate()
        with self._lock:
            self.total += 1
            self._counts[(day, "requests")] += 1
            if record.status is None or record.status >= 500:
                self._counts[(day, "errors")] += 1
            if record.status == 429:
                self.rate_limited_seen += 1
                self._counts[(day, "rate_limited")] += 1

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        days = sorted({day for day, _ in counts})
        rows = [
            (day, counts[(day, "requests")], counts[(day, "errors")], counts[(day, "rate_limited")])
            for day in days
        ]
        _ledger_upsert(link_id=self.link_id, account_key=self.account_key, rows=rows)


def request_ledger_add(
    *, link_id: int, account_key: str, day: date, requests: int, errors: int, rate_limited: int
) -> None:
    """Add counts to the ledger row of (link, day), creating it on first use."""
    _ledger_upsert(
        link_id=link_id, account_key=account_key, rows=[(day, requests, errors, rate_limited)]
    )


def _ledger_upsert(
    *, link_id: int, account_key: str, rows: list[tuple[date, int, int, int]]
) -> None:
    """One statement for every day's counts (usually one day): the row created on first use,
    else added to, whichever process got there first. (An UPDATE, then an INSERT in a
    savepoint that a race could still refuse, was four round trips.)"""
    rows = [row for row in rows if any(row[1:])]
    if not rows:
        return
    table = RequestLedger._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    params: list[int | str | date] = []
    for day, requests, errors, rate_limited in rows:
        params += [link_id, account_key, day, requests, errors, rate_limited]
    added = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in _COUNTS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (link_id, account_key, day, {', '.join(_COUNTS)}) "  # noqa: S608
            f"VALUES {values} ON CONFLICT (link_id, day) DO UPDATE SET {added}",
            params,
        )


_COUNTS = ("requests", "errors", "rate_limited")
