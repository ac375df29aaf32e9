"""The profile browser's indexed search, capped count and keyset pages (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from linker.models import RemoteProfile
from linker.profiles import search, selectors
from linker.profiles.keyset import Cursor, cursor_encode
from linker.profiles.search_fill import search_fill
from linker.profiles.selectors import profile_browse
from tests.pages.conftest import Mirror
from tests.web.routes import FOREIGN_EMAIL, _profile_b


@pytest.fixture(autouse=True, params=["unfilled", "filled"])
def search_texts(request: pytest.FixtureRequest, mirror: Mirror) -> None:
    """Every test twice: the mirror as a sync leaves it (no search text yet, the rows are
    scanned) and after the search fill (the trigram index)."""
    if request.param == "filled":
        assert search_fill(link_id=mirror.link.pk)[0] == 120


def _list(mirror: Mirror, **params: str) -> str:
    url = reverse("profile_list", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    response = mirror.staff.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def _browse(mirror: Mirror, **kwargs: Any) -> selectors.ProfileBrowser:
    return profile_browse(tenant=mirror.world.tenant_a1, **kwargs)


def _ids(browser: selectors.ProfileBrowser) -> list[int]:
    return [p.copernica_id for p in browser.profiles]


def _add(mirror: Mirror, copernica_id: int, **fields: str) -> RemoteProfile:
    return RemoteProfile.objects.create(
        link=mirror.link, database=mirror.database, copernica_id=copernica_id, fields=fields
    )


def test_any_field_search_matches_within_one_value_only(mirror: Mirror) -> None:
    assert _browse(mirror, query="utrecht").count == 60
    # The searchable text holds the values side by side; a query spanning two of them is
    # not a match in any field.
    assert _browse(mirror, query='Utrecht", "21').count == 0
    assert _browse(mirror, query="Utrecht 21").count == 0


def test_search_in_one_field_ignores_the_others(mirror: Mirror) -> None:
    assert _browse(mirror, query="rider11", field="firstname").count == 11  # 11, 110-119
    assert _browse(mirror, query="leiden", field="firstname").count == 0


def test_quotes_backslashes_and_like_wildcards_are_searched_as_typed(mirror: Mirror) -> None:
    _add(mirror, 5001, firstname='O"Brien_50%\\x', city="Zwolle")
    _add(mirror, 5002, firstname="OXBrienX50X", city="Zwolle")
    for _texts in ("the new rows unfilled", "filled"):
        assert _ids(_browse(mirror, query='"Brien_50%\\')) == [5001]
        assert _ids(_browse(mirror, query="brien_")) == [5001]
        assert _ids(_browse(mirror, query="50%")) == [5001]
        search_fill(link_id=mirror.link.pk)


def test_an_email_address_finds_its_profile_exactly_and_ignoring_case(mirror: Mirror) -> None:
    browser = _browse(mirror, query="RIDER7@Alpha.Example")
    assert browser.email_exact
    assert _ids(browser) == [1007]
    assert "with the e-mail address “RIDER7@Alpha.Example”" in _list(
        mirror, q="RIDER7@Alpha.Example"
    )


def test_an_address_nobody_has_falls_back_to_searching_for_it(mirror: Mirror) -> None:
    _add(mirror, 5003, note="write to der7@alpha.example", email="other@x.example")
    browser = _browse(mirror, query="der7@alpha.example")
    assert not browser.email_exact
    assert _ids(browser) == [1007]  # the email contains it; ``note`` is not a database field


def test_a_foreign_email_is_not_found(mirror: Mirror) -> None:
    _profile_b(mirror.world)
    assert _browse(mirror, query=FOREIGN_EMAIL).count == 0
    assert "No profile matches" in _list(mirror, q=FOREIGN_EMAIL)


def test_a_short_search_reads_only_the_first_profiles_and_says_so(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "SHORT_SCAN_ROWS", 50)
    browser = _browse(mirror, query="r1")
    assert browser.scan_limited
    assert _ids(browser) == [1001, *range(1010, 1020)]  # of 1000-1049 only
    assert "Searched the first 50 profiles only" in _list(mirror, q="r1")
    assert not _browse(mirror, query="rider1").scan_limited


def test_a_number_finds_the_profile_with_that_id(mirror: Mirror) -> None:
    assert _ids(_browse(mirror, query="1005")) == [1005]
    _add(mirror, 8)
    assert 8 in _ids(_browse(mirror, query="8"))  # short: the id, and values containing "8"


def test_a_result_above_the_cap_is_counted_as_more_than(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 30)
    page = _list(mirror)
    assert "More than 30 profiles in Customers" in page
    assert "Page 1 of" not in page
    assert 'rel="next"' in page
    assert "after=" in page
    assert "11 profiles" in _list(mirror, q="rider11")  # under the cap: counted exactly


def _walk(mirror: Mirror, sort: str) -> tuple[list[int], list[list[int]]]:
    """Every page by ``Next``, then back by ``Previous``: the ids in order, and the pages
    seen on the way back (last first)."""
    pages = [_ids(browser := _browse(mirror, sort=sort))]
    while browser.after:
        browser = _browse(mirror, sort=sort, after=browser.after)
        pages.append(_ids(browser))
    back = [pages[-1]]
    while browser.before:
        browser = _browse(mirror, sort=sort, before=browser.before)
        back.append(_ids(browser))
    return [i for page in pages for i in page], back


@pytest.mark.parametrize("sort", ["id", "-id", "modified", "-modified", "f:email", "-f:email"])
def test_keyset_pages_walk_every_profile_once_in_order_and_back(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 30)
    # Rows without the sort key (no email; made here, never synced) come last either way.
    _add(mirror, 900, city="Zwolle")
    _add(mirror, 901, email="Same@alpha.example")
    _add(mirror, 902, email="same@alpha.example")
    monkeypatch.setattr(selectors, "PAGE_SIZE", 7)
    walked, back = _walk(mirror, sort)
    monkeypatch.setattr(selectors, "COUNT_CAP", 10_000)
    expected = [p.copernica_id for p in _browse(mirror, sort=sort).results or []]
    assert walked == expected
    assert len(walked) == 123
    pages_forward = [walked[i : i + 7] for i in range(0, len(walked), 7)]
    assert back == pages_forward[::-1]


def test_null_keys_sort_last_in_both_directions(mirror: Mirror) -> None:
    _add(mirror, 900, city="Zwolle")
    for sort in ("modified", "-modified", "f:email", "-f:email"):
        assert [p.copernica_id for p in _browse(mirror, sort=sort).results or []][-1] == 900


def test_a_field_sort_of_too_many_results_sorts_by_id_and_says_so(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 30)
    browser = _browse(mirror, sort="-f:city")
    assert (browser.sort_refused, browser.sort) == ("-f:city", "id")
    assert _ids(browser)[:3] == [1000, 1001, 1002]
    assert "Sorted by ID" in _list(mirror, sort="-f:city")
    narrowed = _browse(mirror, sort="-f:firstname", query="rider11")  # 11: under the cap
    assert not narrowed.sort_refused
    assert _ids(narrowed)[:2] == [1119, 1118]


@pytest.mark.parametrize(
    "params",
    [
        {"page": "3"},
        {"after": "garbage"},
        {"before": "%%%"},
        {"after": cursor_encode(Cursor(7, 1))},
        {"after": cursor_encode(Cursor(0, 1, "not a time")), "sort": "modified"},
        {"after": cursor_encode(Cursor(0, 1, "2024-01-01T00:00:00")), "sort": "modified"},
    ],
)
def test_old_page_numbers_and_bad_cursors_show_the_first_keyset_page(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 30)
    page = _list(mirror, **params)
    assert "More than 30 profiles" in page
    assert 'rel="prev"' not in page


def test_values_and_the_query_are_escaped(mirror: Mirror) -> None:
    _add(mirror, 5004, firstname="<script>alert(1)</script>", email="x@alpha.example")
    page = _list(mirror, q="<script>")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "“&lt;script&gt;”" in page


def test_a_keyset_page_costs_the_same_queries_deep_or_shallow(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 30)
    first = _browse(mirror, sort="-modified")
    with CaptureQueriesContext(connection) as shallow:
        _browse(mirror, sort="-modified")
    with CaptureQueriesContext(connection) as deep:
        _browse(mirror, sort="-modified", after=first.after)
    assert len(shallow) == len(deep)
    scanned = [q["sql"] for q in deep if "linker_remoteprofile" in q["sql"]]
    assert len(scanned) == 2  # the capped count and the page, nothing per row


def _plan(queryset: Any) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_search_and_email_lookup_are_answered_from_their_indexes(mirror: Mirror) -> None:
    """The expressions the selectors search by are the ones migrations 0018 and 0002 index:
    the filled search texts' trigrams and the unfilled rows, and the e-mail address."""
    assert connection.vendor == "postgresql"
    profiles = RemoteProfile.objects.all()
    searched = search.search_filter(
        profiles, query="utrecht", searched=["city"], id_of=None, database_id=mirror.database.pk
    )
    assert "remote_profile_search_trgm" in _plan(searched)
    assert "remote_profile_link_search" in _plan(searched)
    assert "remote_profile_email_lower" in _plan(search.email_exact(profiles, "a@b.example"))
