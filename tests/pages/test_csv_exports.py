"""Every CSV export escapes formula-leading cells (reliability.md case 40, OWASP "CSV Injection").

Values that came from Copernica (profile fields, field names, interests, the account's name) or
were typed by a person (a tenant's name) start with ``=``, ``+``, ``-``, ``@``, tab or CR: each
comes out with a leading ``'`` and otherwise intact; our own numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from django.test import Client
from django.urls import reverse

from linker.models import Link, RemoteDatabase, RemoteProfile
from linker.views.exports import FORMULA_STARTS, csv_cell
from tests.conftest import World
from tests.factories import link_tenant, make_tenant
from tests.pages.conftest import Mirror
from tests.web.parameters import CSV_EXPORTS

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1", "-2", "@SUM(1)", "\tx", "\rx"]
ROOT = Path(__file__).resolve().parents[2]


def _cells(client: Client, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text, newline="")))


def _assert_escaped(rows: list[list[str]], expected: list[str]) -> int:
    """No cell starts a formula, and each hostile value is there behind its ``'``. Returns how
    many cells were escaped."""
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    for value in expected:
        assert f"'{value}" in cells, value
    return sum(1 for cell in cells if cell.startswith("'"))


def test_csv_cell_escapes_strings_only() -> None:
    for value in HOSTILE:
        assert csv_cell(value) == f"'{value}"
    assert csv_cell("Utrecht") == "Utrecht"
    assert csv_cell("a=b") == "a=b"
    assert csv_cell("") == ""
    # Our own numbers: an int cannot carry a formula, and a sheet should still sum it.
    assert csv_cell(-2) == -2
    assert csv_cell(1000) == 1000
    assert csv_cell(None) is None


def test_profile_export_escapes_values_names_and_interests_from_copernica(
    mirror: Mirror,
) -> None:
    database = RemoteDatabase.objects.create(
        link=mirror.link,
        copernica_id=2,
        name="Imported",
        fields=[{"name": "note", "type": "text"}, {"name": "@score", "type": "text"}],
        interests=[{"name": "=cmd|' /C calc'!A0"}],
    )
    for number, value in enumerate(HOSTILE):
        RemoteProfile.objects.create(
            link=mirror.link,
            database=database,
            copernica_id=5000 + number,
            fields={"note": value, "@score": value},
            interests=["=cmd|' /C calc'!A0"] if number == 0 else [],
        )
    url = reverse("profile_export", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    rows = _cells(mirror.staff, f"{url}?db=2")
    escaped = _assert_escaped(rows, [*HOSTILE, "@score", "=cmd|' /C calc'!A0"])
    print(f"\ncase 40: profiles.csv, {escaped} cells escaped of {sum(map(len, rows))}")
    assert rows[0] == ["id", "note", "'@score", "interests", "modified"]
    assert [row[0] for row in rows[1:]] == [str(5000 + n) for n in range(len(HOSTILE))]
    assert escaped == 2 * len(HOSTILE) + 2  # every value twice, the field name, the interest


def test_tenant_export_escapes_tenant_and_account_names(world: World) -> None:
    for number, value in enumerate(HOSTILE):
        tenant = make_tenant(agency=world.agency_a, name=f"{value}")
        link_tenant(tenant, name=HOSTILE[-1 - number])
    client = Client()
    client.force_login(world.staff_a)
    rows = _cells(client, reverse("dashboard_export"))
    escaped = _assert_escaped(rows, HOSTILE)
    print(f"\ncase 40: tenants.csv, {escaped} cells escaped of {sum(map(len, rows))}")
    assert escaped == 2 * len(HOSTILE)
    # The counts stay numbers (0 profiles mirrored, 0 requests today), not text.
    assert {row[3] for row in rows[1:]} == {"0"}


def test_request_ledger_export_holds_only_dates_and_numbers(mirror: Mirror) -> None:
    url = reverse("request_ledger_export", kwargs={"tenant_id": mirror.world.tenant_a1.pk})
    rows = _cells(mirror.staff, url)
    assert rows[0] == ["day", "requests", "errors", "rate_limited"]
    assert _assert_escaped(rows, []) == 0
    for row in rows[1:]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", row[0])
        assert all(cell.isdigit() for cell in row[1:])


def test_the_tested_exports_are_every_csv_url() -> None:
    """Every URL that answers CSV is one of the three above (the fuzz checks the content
    types: ``tests/web/test_fuzz.py``), and no module but ``linker/views/exports.py`` writes
    CSV itself."""
    assert {"dashboard_export", "profile_export", "request_ledger_export"} == CSV_EXPORTS
    writers = [
        str(path.relative_to(ROOT))
        for package in ("accounts", "linker", "api_client")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"^\s*(import csv|from csv import)", path.read_text(), re.MULTILINE)
    ]
    assert writers == ["linker/views/exports.py"]


def test_a_link_name_from_copernica_is_escaped_too(world: World) -> None:
    link = link_tenant(world.tenant_a1, name="=1+1")
    assert Link.objects.get(pk=link.pk).copernica_account_name == "=1+1"
    client = Client()
    client.force_login(world.staff_a)
    rows = _cells(client, reverse("dashboard_export") + "?q=Alpha")
    assert [row[2] for row in rows[1:] if row[0] == "Alpha Bikes"] == ["'=1+1"]
