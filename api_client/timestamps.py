"""Copernica's timestamps: ``YYYY-MM-DD hh:mm:ss`` without a zone, read and sent back as UTC.

The round trip is exact, which is what lets an incremental sync ask for ``modified>=`` the
newest timestamp it holds. Copernica writes an unset date as ``0000-00-00 00:00:00``.
"""

from __future__ import annotations

from datetime import UTC, datetime

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_timestamp(value: object) -> datetime | None:
    """A Copernica ``YYYY-MM-DD hh:mm:ss`` as an aware UTC datetime.

    ``None`` for anything else: a value that is not a string, not 19 characters long, unset
    (starting with ``0000``) or not a valid date and time.
    """
    if not isinstance(value, str) or len(value) != 19 or value.startswith("0000"):
        return None
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def format_timestamp(moment: datetime) -> str:
    """``moment`` as Copernica writes it: ``YYYY-MM-DD hh:mm:ss`` in UTC, seconds truncated.

    A naive ``moment`` is taken as local time, as :meth:`datetime.astimezone` does.
    """
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)
