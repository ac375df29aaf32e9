"""The views' one set of parameter parsers (``linker/views/params.py``, reliability.md case 42):
each parser's rules, and that no view reads a parameter by hand. The pages that answered 500
before are in ``tests/pages/test_bad_input.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.exceptions import BadRequest
from django.http import QueryDict

from linker.views.params import (
    ID_MAX,
    LIST_MAX,
    PAGE_MAX,
    SEARCH_MAX,
    choice_param,
    id_list_param,
    optional_id_param,
    page_param,
    search_param,
    text_param,
)

VIEWS = Path(__file__).resolve().parents[2] / "linker" / "views"


def _q(query: str) -> QueryDict:
    return QueryDict(query)


# --- The parsers' rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ("ids=1&ids=2", [1, 2]),
        ("ids=1,2,,3", [1, 2, 3]),
        ("ids=2&ids=2,1", [2, 1]),
        ("ids=%2B7", None),
        ("ids=%C2%B2", None),
        ("ids=%D9%A3", None),
        ("ids=0", None),
        ("ids=-1", None),
        (f"ids={ID_MAX}", [ID_MAX]),
        (f"ids={ID_MAX + 1}", None),
        ("ids=" + "9" * 5000, None),
        ("ids=1%002", None),
    ],
)
def test_id_lists_take_ascii_digits_in_range_or_refuse(
    raw: str, expected: list[int] | None
) -> None:
    if expected is None:
        with pytest.raises(BadRequest):
            id_list_param(_q(raw), "ids")
    else:
        assert id_list_param(_q(raw), "ids") == expected


def test_id_lists_are_bounded() -> None:
    assert len(id_list_param(_q("ids=" + ",".join(["5"] * LIST_MAX)), "ids")) == 1
    with pytest.raises(BadRequest):
        id_list_param(_q("ids=" + ",".join(["5"] * (LIST_MAX + 1))), "ids")


def test_a_bad_id_is_named_but_its_value_never_echoed() -> None:
    with pytest.raises(BadRequest) as caught:
        optional_id_param(_q("run=secret-token-value"), "run")
    assert "run" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_an_optional_id_may_be_absent_or_empty() -> None:
    assert optional_id_param(_q(""), "run") is None
    assert optional_id_param(_q("run="), "run") is None
    assert optional_id_param(_q("run=%20"), "run") is None
    assert optional_id_param(_q("run=1&run=42"), "run") == 42  # the last one, as Django reads it


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", 1),
        ("page=3", 3),
        ("page=0", 1),
        ("page=-2", 1),
        ("page=%C2%B2", 1),
        ("page=%EF%BC%91", 1),
        ("page=2.5", 1),
        ("page=" + "9" * 30, 1),
        (f"page={PAGE_MAX * 10}", PAGE_MAX),
    ],
)
def test_page_numbers_fall_back_to_page_one(raw: str, expected: int) -> None:
    assert page_param(_q(raw)) == expected


def test_search_text_loses_control_characters_and_is_cut() -> None:
    assert search_param(_q("q=%00")) == ""
    assert search_param(_q("q=a%00b")) == "a b"
    assert search_param(_q("q=a%09%0D%0Ab%7F%C2%85c")) == "a b c"
    assert search_param(_q("q=%20%20r%C3%BCdiger%20")) == "rüdiger"
    assert search_param(_q("q=%FF%FE")) == "\ufffd\ufffd"  # invalid UTF-8, already replaced
    assert len(search_param(_q("q=" + "x" * 100_000))) == SEARCH_MAX
    assert search_param(_q("q=first&q=second")) == "second"


def test_text_and_choices() -> None:
    assert text_param(_q("field=e%00mail"), "field") == "e mail"
    assert choice_param(_q("sort=-name"), "sort", choices={"name", "-name"}, default="name") == (
        "-name"
    )
    for raw in ("sort=%00", "sort=bogus", "", "sort=" + "n" * 10_000):
        assert choice_param(_q(raw), "sort", choices={"name"}, default="name") == "name"


# --- No view reads a parameter by hand ---------------------------------------------------------

# ``request.GET`` / ``request.POST`` may be handed whole to a parser or a form; a lookup by key
# (``.get(``, ``.getlist(``, ``[...]``, ``in``) belongs in ``params.py``.
_BY_HAND = re.compile(
    r"request\.(GET|POST)\s*(\.\s*(get|getlist|pop|dict|items|lists|values)\b|\[)"
    r"|in\s+request\.(GET|POST)\b"
)


def test_no_view_reads_a_query_or_form_parameter_by_hand() -> None:
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(VIEWS.glob("*.py"))
        if path.name != "params.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _BY_HAND.search(line)
    ]
    assert not offenders, "use linker.views.params instead:\n" + "\n".join(offenders)
