"""The request ledger: requests made to Copernica per account and day.

The client reports every HTTP attempt to :meth:`RequestTally.record` (its ``on_request``
hook); the tally counts in memory and :meth:`RequestTally.flush` adds the counts to the
database in one statement per day, once per task chunk, never once per request.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import F
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
        days = {day for day, _ in counts}
        for day in days:
            values = {name: counts[(day, name)] for name in ("requests", "errors", "rate_limited")}
            request_ledger_add(
                link_id=self.link_id, account_key=self.account_key, day=day, **values
            )


def request_ledger_add(
    *, link_id: int, account_key: str, day: date, requests: int, errors: int, rate_limited: int
) -> None:
    """Add counts to the ledger row of (link, day), creating it on first use."""
    if not (requests or errors or rate_limited):
        return
    increments = {
        "requests": F("requests") + requests,
        "errors": F("errors") + errors,
        "rate_limited": F("rate_limited") + rate_limited,
    }
    rows = RequestLedger.objects.filter(link_id=link_id, day=day)
    if rows.update(**increments):
        return
    try:
        with transaction.atomic():
            RequestLedger.objects.create(
                link_id=link_id,
                account_key=account_key,
                day=day,
                requests=requests,
                errors=errors,
                rate_limited=rate_limited,
            )
    except IntegrityError:
        rows.update(**increments)  # another process created it meanwhile
