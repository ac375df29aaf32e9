"""The request log: each HTTP attempt made to Copernica for a link, kept for 14 days.

The ledger (:class:`~linker.models.runs.RequestLedger`) counts requests per day; this is what a
person reads when a count looks wrong: which requests, when, how they were answered. Never a
body, a token or a query string: the method, the path (redacted all the same) and the answer's
status and time.
"""

from __future__ import annotations

from django.db import models

from linker.models.links import Link


class RequestLogEntry(models.Model):
    """One attempt: ``attempt`` > 1 is a retry by the client, ``status`` ``None`` no answer."""

    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="+", db_index=False)
    at = models.DateTimeField()
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    attempt = models.PositiveSmallIntegerField(default=1)

    class Meta:
        # The one index: a link's newest entries (the page), and a run's window (the run page).
        # Pruning by age scans the table once a day rather than keeping a second index per row.
        indexes = [models.Index(fields=["link", "-at"], name="request_log_link_at")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status or 'no answer'}"

    @property
    def is_retry(self) -> bool:
        return self.attempt > 1

    @property
    def is_rate_limited(self) -> bool:
        return self.status == 429
