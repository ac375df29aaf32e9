"""The request log of a link: each HTTP attempt to Copernica, kept ``KEEP`` (14 days).

:class:`RequestLogBuffer` is the ``on_request`` hook of :func:`~linker.linking.client.
metered_session` (beside the ledger's tally): it keeps the attempts in memory and writes them
as one multi-row INSERT when the session ends (a sync step, a write, a probe), so a page of a
sync costs no extra round trip. The write happens in the session's own thread (the prefetch
thread that also reports attempts never opens a database connection). What it keeps: the
time, the method, the path (without its query string, and redacted: a secret in a path is
masked like one in a URL), the status (``None``: no answer), the duration and the attempt
number (> 1: a retry). Never a body, a header or a token.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from api_client import RequestRecord, redact
from linker.models import Link, RequestLogEntry

logger = logging.getLogger(__name__)

KEEP = timedelta(days=14)
#: The most attempts one session keeps (a sync step is bounded far below this); more are
#: counted in the ledger but not logged.
MAX_ENTRIES = 20_000
#: The most entries a page shows at once.
PAGE_LIMIT = 100

#: The filters of the page: status classes and methods.
STATUS_CLASSES: dict[str, str] = {
    "": "Any status",
    "2xx": "Success (2xx)",
    "4xx": "Refused (4xx)",
    "429": "Rate limited (429)",
    "5xx": "Server error (5xx)",
    "none": "No answer",
}
METHODS: dict[str, str] = {
    "": "Any method",
    "GET": "GET",
    "POST": "POST",
    "PUT": "PUT",
    "DELETE": "DELETE",
}


class RequestLogBuffer:
    """The attempts of one metered session, written in batches. Thread-safe: a sync's
    prefetch thread reports attempts too."""

    def __init__(self, link: Link) -> None:
        self.link_id = link.pk
        self._entries: list[RequestLogEntry] = []
        self._lock = threading.Lock()
        self.dropped = 0

    def record(self, record: RequestRecord) -> None:
        now = timezone.now()
        # Every value within its column (see flush: the write has no savepoint to fall back on).
        status = record.status if record.status is not None and 0 <= record.status <= 999 else None
        entry = RequestLogEntry(
            link_id=self.link_id,
            at=now - timedelta(seconds=max(record.elapsed, 0.0)),
            method=record.method.upper().replace("\x00", "")[:8],
            path=redact(record.path).replace("\x00", "")[:300],
            status=status,
            duration_ms=min(max(0, round(record.elapsed * 1000)), 2**31 - 1),
            attempt=min(max(record.attempt, 1), 32767),
        )
        with self._lock:
            if len(self._entries) < MAX_ENTRIES:
                self._entries.append(entry)
            else:
                self.dropped += 1

    def flush(self) -> None:
        with self._lock:
            entries, self._entries = self._entries, []
        if self.dropped:
            logger.warning(
                "Request log of link %s: %d attempts not logged", self.link_id, self.dropped
            )
            self.dropped = 0
        if not entries:
            return
        if connection.in_atomic_block:
            # In the caller's transaction (a sync run's end, the outbox's outcomes) without a
            # savepoint of its own: two round trips more than the INSERT, for errors that
            # cannot come from the values (each is made to fit its column in ``record``), and
            # that would fail the caller's transaction anyway (a lost connection).
            RequestLogEntry.objects.bulk_create(entries, batch_size=2000)
            return
        try:
            RequestLogEntry.objects.bulk_create(entries, batch_size=2000)
        except DatabaseError:
            # A diagnostic log must not fail the sync or the write that made the requests (the
            # ledger still counts them); the next session logs again.
            logger.warning("Could not write %d request log entries", len(entries), exc_info=True)


def _status_filter(status_class: str) -> Q:
    if status_class == "2xx":
        return Q(status__gte=200, status__lt=300)
    if status_class == "4xx":
        return Q(status__gte=400, status__lt=500)
    if status_class == "429":
        return Q(status=429)
    if status_class == "5xx":
        return Q(status__gte=500)
    if status_class == "none":
        return Q(status__isnull=True)
    return Q()


def request_log_list(
    *, link: Link, status_class: str = "", method: str = "", limit: int = PAGE_LIMIT
) -> list[RequestLogEntry]:
    """The newest entries of ``link`` (reached through ``tenant_get``), filtered, newest first."""
    entries = RequestLogEntry.objects.filter(link=link, at__gte=timezone.now() - KEEP)
    entries = entries.filter(_status_filter(status_class))
    if method in METHODS and method:
        entries = entries.filter(method=method)
    return list(entries.order_by("-at", "-id")[:limit])


def request_log_between(
    *, link: Link, start: datetime, end: datetime | None
) -> QuerySet[RequestLogEntry]:
    """``link``'s entries in a window (a sync run's), oldest first."""
    entries = RequestLogEntry.objects.filter(link=link, at__gte=start)
    if end is not None:
        entries = entries.filter(at__lte=end)
    return entries.order_by("at", "id")


@dataclass(frozen=True)
class PruneOutcome:
    deleted: int


def request_log_prune(*, now: datetime | None = None) -> PruneOutcome:
    """Delete the entries older than ``KEEP``: the beat's daily task."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = RequestLogEntry.objects.filter(at__lt=cutoff).delete()
    return PruneOutcome(deleted=deleted)
