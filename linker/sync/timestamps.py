"""Copernica's timestamps: ``YYYY-MM-DD hh:mm:ss`` without a zone, stored and sent back as UTC.

The round trip is exact, which is what lets an incremental run ask for ``modified>=`` the
newest timestamp we hold.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Copernica's ``modified`` has one-second resolution and a write may land a moment late.
INCREMENTAL_OVERLAP = timedelta(minutes=2)
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_timestamp(value: object) -> datetime | None:
    """A Copernica ``YYYY-MM-DD hh:mm:ss`` as an aware UTC datetime (``None`` if unset)."""
    if not isinstance(value, str) or len(value) != 19 or value.startswith("0000"):
        return None
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)
