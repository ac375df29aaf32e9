"""Copernica's ``YYYY-MM-DD hh:mm:ss`` timestamps, read and written as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api_client import format_timestamp, parse_timestamp


def test_a_timestamp_reads_as_aware_utc() -> None:
    assert parse_timestamp("2024-03-05 07:08:09") == datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2024-03-05 07:08:09", "1999-12-31 23:59:59", "2000-02-29 00:00:00"]
)
def test_reading_and_writing_round_trip_exactly(text: str) -> None:
    moment = parse_timestamp(text)
    assert moment is not None
    assert format_timestamp(moment) == text


def test_writing_converts_to_utc_and_drops_fractions() -> None:
    amsterdam = timezone(timedelta(hours=2))
    moment = datetime(2024, 6, 1, 12, 0, 0, 999_999, tzinfo=amsterdam)
    assert format_timestamp(moment) == "2024-06-01 10:00:00"


@pytest.mark.parametrize("unset", ["0000-00-00 00:00:00", "0000-01-01 00:00:00"])
def test_an_unset_date_reads_as_none(unset: str) -> None:
    assert parse_timestamp(unset) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "yesterday",
        "2024-03-05",
        "2024-03-05T07:08:09",
        "2024-13-05 07:08:09",
        "2024-02-30 07:08:09",
        "2024-03-05 07:08:09Z",
        " 2024-03-05 07:08:09",
    ],
)
def test_garbage_reads_as_none(garbage: str) -> None:
    assert parse_timestamp(garbage) is None


@pytest.mark.parametrize("value", [None, 1_709_622_489, 1.5, b"2024-03-05 07:08:09", ["x"]])
def test_a_value_that_is_not_a_string_reads_as_none(value: object) -> None:
    assert parse_timestamp(value) is None
