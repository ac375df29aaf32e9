"""A page as COPY text (``copy_text.page_prepare``): the mirror gets what the client would parse.

The COPY path parses nothing itself: it validates Copernica's timestamps and appends the UTC
offset of Amsterdam's wall clock, cached per day, and PostgreSQL converts. These tests hold
that to ``api_client.parse_timestamp`` (case 48's clock rules) without a database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from api_client import parse_timestamp
from linker.sync import copy_text


def copied_instant(text: str) -> datetime | None:
    """What PostgreSQL makes of the COPY text of a timestamp (NULL is ``""``)."""
    if not text:
        return None
    return datetime.fromisoformat(f"{text}:00").astimezone(UTC)


@pytest.mark.parametrize("year", [1996, 2024, 2026])
def test_every_hour_of_a_year_is_copied_as_the_client_parses_it(year: int) -> None:
    """Both clock changes included: the repeated autumn hour as its earlier (summer) reading,
    the skipped spring hour as the client reads it."""
    moment = datetime(year, 1, 1, 0, 17, 43)
    checked = 0
    while moment.year == year:
        stamp = moment.strftime("%Y-%m-%d %H:%M:%S")
        assert copied_instant(copy_text._copy_timestamp(stamp)) == parse_timestamp(stamp), stamp
        moment += timedelta(minutes=59, seconds=1)
        checked += 1
    assert checked > 8000


@pytest.mark.parametrize(
    "stamp",
    [
        "0000-00-00 00:00:00",
        "2023-02-29 12:00:00",
        "2024-04-31 08:00:00",
        "2024-13-01 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 23:60:00",
        "2024-01-01T23:00:00",
        "2024-01-01 23:00",
        "",
        None,
        20240101,
    ],
)
def test_what_is_not_a_timestamp_is_copied_as_null(stamp: object) -> None:
    assert copy_text._copy_timestamp(stamp) == ""


@pytest.mark.parametrize(
    "odd",
    [
        [],  # only well-formed timestamps
        ["2024-02-30 12:00:00"],  # well formed, no day of the calendar
        ["2021-10-31 02:30:00", "2021-03-28 02:30:00"],  # the days the clocks change
        [None],
        [20240101],
        ["2024-01-01 24:00:00"],
        ["2024-01-01 23:00"],  # short: the 20-character units no longer line up
        ["2024-01-01 23:00:00\n2024-01-01 23:00:00"],  # a line feed inside one value
        ["2024-01-01 23:00:00+01"],
        ["2024-01-01 23:00:00", "2024-01-01 23:00"],  # lengths that add up, units that do not
    ],
)
def test_a_pages_timestamps_in_one_pass_are_each_copied_as_alone(
    odd: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_copy_timestamps`` checks a page's timestamps at once and looks each day up in place;
    whatever it meets, each comes out as ``_copy_timestamp`` makes it alone, on a first page
    (days not yet in the table) and on the next."""
    moment = datetime(2021, 10, 29, 22, 3, 7)
    values: list[object] = []
    for _ in range(120):
        values.append(moment.strftime("%Y-%m-%d %H:%M:%S"))
        moment += timedelta(minutes=37, seconds=11)
    values[60:60] = odd
    monkeypatch.setattr(copy_text, "_DAY_OFFSETS", {})
    first = copy_text._copy_timestamps(values)
    again = copy_text._copy_timestamps(values)

    assert first == again == [copy_text._copy_timestamp(value) for value in values]
    assert sum(1 for text in first if text) >= 120


def test_a_page_is_one_line_per_item_with_its_ids_and_compact_json() -> None:
    items = [
        {
            "ID": "7",
            "fields": {"name": 'Zoë \\ "quoted"\n', "city": "Gent"},
            "interests": ["news"],
            "created": "2024-10-27 02:30:00",
            "modified": "0000-00-00 00:00:00",
        },
        {"ID": "9", "fields": {}, "interests": [], "created": None, "modified": None},
    ]

    page = copy_text.page_prepare(items=items, last_id=9, link_id=1, parent_id=2, run_id=3)

    lines = page.rows.decode().split("\n")
    assert len(lines) == 3
    assert lines[-1] == ""
    first = lines[0].split("\t")
    assert first[:4] == ["1", "2", "3", "7"]
    # COPY text doubles backslashes; what remains is the JSON the item's fields make.
    assert json.loads(first[4].replace("\\\\", "\\")) == items[0]["fields"]
    assert first[4] == json.dumps(
        items[0]["fields"], ensure_ascii=False, separators=(",", ":")
    ).replace("\\", "\\\\")
    assert first[5:] == ['["news"]', "2024-10-27 02:30:00+02", ""]
    assert lines[1].split("\t") == ["1", "2", "3", "9", "{}", "[]", "", ""]
    assert (page.ids, page.count, page.last_id) == ([7, 9], 2, 9)


def test_a_page_with_every_kind_of_text_is_the_same_json_as_the_standard_library_writes() -> None:
    """orjson writes the pages; what it writes is what ``json.dumps`` would have written."""
    fields = {
        "name": 'Zoë Ⅻ 😀 \t\r\b\f\x00\x1f\x7f \u2028 / \\ "',
        "nested": {"list": [1, -2, 3.5, True, None, "x"]},
        "ключ": "",
    }
    items = [{"ID": "1", "fields": fields, "interests": ["a\\b"], "created": None}]

    page = copy_text.page_prepare(items=items, last_id=1, link_id=1, parent_id=2, run_id=3)

    written = page.rows.decode().rstrip("\n").split("\t")
    standard = [json.dumps(value, ensure_ascii=False, separators=(",", ":")) for value in
                (fields, ["a\\b"])]  # fmt: skip
    assert written[4:6] == [text.replace("\\", "\\\\") for text in standard]


def test_a_page_orjson_cannot_write_is_written_by_the_standard_library() -> None:
    """An integer beyond 64 bits (only the standard library's decoder makes one) stays exact."""
    items = [{"ID": "1", "fields": {"big": 2**70}, "interests": []}]

    page = copy_text.page_prepare(items=items, last_id=1, link_id=1, parent_id=2, run_id=None)

    assert page.rows.decode().split("\t")[4] == '{"big":1180591620717411303424}'


def test_days_beyond_the_remembered_ones_are_copied_the_same(monkeypatch) -> None:
    """Once the table of days is full, a day not in it is looked up in the day's cache each
    time; a day the clocks change is never in it."""
    monkeypatch.setattr(copy_text, "_DAY_OFFSETS", {})
    monkeypatch.setattr(copy_text, "_DAY_OFFSETS_MOST", 1)
    stamps = [
        "2024-10-27 02:30:00",
        "2024-03-31 03:10:00",
        "2024-07-01 12:00:00",
        "2024-12-01 08:00:00",
    ]
    for _ in range(2):
        for stamp in stamps:
            assert copied_instant(copy_text._copy_timestamp(stamp)) == parse_timestamp(stamp)
    assert copy_text._copy_timestamp("2024-01-01 24:00:00") == ""
    assert copy_text._DAY_OFFSETS == {"2024-07-01": "+02"}
