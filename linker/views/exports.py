"""CSV downloads of the pages, streamed row by row so a large export holds no list in memory.

Every CSV the project writes goes through :func:`csv_response`, which escapes formula-leading
cells (reliability.md case 40; ``tests/pages/test_csv_exports.py`` checks that no other module
writes CSV).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"): ``=``, ``+``,
#: ``-``, ``@``, tab and carriage return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` as a spreadsheet may show it without evaluating it.

    A string starting with one of :data:`FORMULA_STARTS` gets a leading ``'``, which spreadsheets
    read as "text follows" and hide; the rest is kept as it was. Only strings: a value from
    Copernica or typed by a person always arrives as one (a field holding ``-2`` too, which is
    then shown as text), while our own numeric columns (ids, counts) are ``int`` and cannot
    carry a formula, so they stay numbers the sheet can sum.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


class _Echo:
    """A file-like object whose ``write`` hands the line back, for ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    *, filename: str, header: Sequence[object], rows: Iterable[Sequence[object]]
) -> StreamingHttpResponse:
    """A streamed ``text/csv`` attachment: ``header``, then one line per row of ``rows``, every
    cell through :func:`csv_cell` (header cells too: they may be Copernica's field names)."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([csv_cell(cell) for cell in header])
        for row in rows:
            yield writer.writerow([csv_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
