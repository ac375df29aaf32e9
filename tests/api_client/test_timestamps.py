"""Copernica's ``YYYY-MM-DD hh:mm:ss`` timestamps: Europe/Amsterdam wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api_client import format_since, format_timestamp, parse_timestamp

# 2026-10-25: the clock goes back from 03:00 CEST to 02:00 CET at 01:00 UTC, so the hour
# 02:00-03:00 happens twice: first 00:00-01:00 UTC (+02:00), then 01:00-02:00 UTC (+01:00).
FIRST_PASS = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
SECOND_PASS = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_a_winter_timestamp_reads_as_aware_utc_one_hour_earlier() -> None:
    assert parse_timestamp("2024-03-05 07:08:09") == datetime(2024, 3, 5, 6, 8, 9, tzinfo=UTC)


def test_a_summer_timestamp_reads_as_aware_utc_two_hours_earlier() -> None:
    assert parse_timestamp("2024-07-05 07:08:09") == datetime(2024, 7, 5, 5, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-05 07:08:09",  # winter
        "2024-07-15 23:59:59",  # summer
        "1999-12-31 23:59:59",
        "2000-02-29 00:00:00",
        "2026-10-25 01:59:59",  # just before the repeated hour
        "2026-10-25 03:00:00",  # just after it
        "2026-03-29 01:59:59",  # just before the skipped hour
        "2026-03-29 03:00:00",  # the first second after it
    ],
)
def test_reading_and_writing_round_trip_exactly(text: str) -> None:
    moment = parse_timestamp(text)
    assert moment is not None
    assert format_timestamp(moment) == text


def test_writing_converts_to_amsterdam_and_drops_fractions() -> None:
    moment = datetime(2024, 6, 1, 12, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=5)))
    assert format_timestamp(moment) == "2024-06-01 09:00:00"
    assert format_timestamp(datetime(2024, 12, 1, 12, 0, tzinfo=UTC)) == "2024-12-01 13:00:00"


def test_both_passes_of_the_repeated_autumn_hour_write_the_same_wall_clock() -> None:
    assert format_timestamp(FIRST_PASS) == "2026-10-25 02:30:00"
    assert format_timestamp(SECOND_PASS) == "2026-10-25 02:30:00"


def test_a_repeated_autumn_wall_clock_reads_as_the_earlier_instant() -> None:
    assert parse_timestamp("2026-10-25 02:30:00") == FIRST_PASS
    assert parse_timestamp("2026-10-25 02:00:00") == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    assert parse_timestamp("2026-10-25 02:59:59") == datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC)
    assert parse_timestamp("2026-10-25 03:00:00") == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)


def test_a_skipped_spring_wall_clock_reads_with_the_winter_offset() -> None:
    assert parse_timestamp("2026-03-29 02:30:00") == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert format_timestamp(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == "2026-03-29 03:00:00"
    assert format_timestamp(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)) == "2026-03-29 01:59:59"


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        FIRST_PASS,
        datetime(2026, 10, 25, 0, 59, 59, 999_999, tzinfo=UTC),
    ],
)
def test_since_in_the_first_pass_of_the_repeated_hour_starts_at_the_hour(
    moment: datetime,
) -> None:
    assert format_since(moment) == "2026-10-25 02:00:00"


def test_since_matches_a_change_made_later_in_the_second_pass() -> None:
    later_change = format_timestamp(FIRST_PASS + timedelta(minutes=45))  # 02:15, second pass
    assert later_change < format_timestamp(FIRST_PASS)
    assert later_change >= format_since(FIRST_PASS)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (SECOND_PASS, "2026-10-25 02:30:00"),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), "2026-10-25 02:00:00"),
        (datetime(2026, 10, 24, 23, 59, 59, tzinfo=UTC), "2026-10-25 01:59:59"),
        (datetime(2026, 10, 25, 2, 0, tzinfo=UTC), "2026-10-25 03:00:00"),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "2026-03-29 03:30:00"),
        (datetime(2024, 7, 1, 10, 0, 0, 500_000, tzinfo=UTC), "2024-07-01 12:00:00"),
    ],
)
def test_since_outside_the_repeated_hour_is_the_timestamp(moment: datetime, expected: str) -> None:
    assert format_since(moment) == expected == format_timestamp(moment)


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
