"""Cursor pagination of the API's lists: keyset on one unique, indexed column.

A page costs one query however deep it is (``WHERE column > position ORDER BY column LIMIT
n + 1``), and rows added or removed meanwhile neither repeat nor skip others. The cursor is
DRF's opaque one; a cursor or ``limit`` the API did not make is a 400 problem, not a guess.
"""

from __future__ import annotations

from base64 import b64decode
from typing import Any
from urllib.parse import parse_qs

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from linker.api.errors import BAD_REQUEST, INVALID_INPUT, ApiProblem

MAX_LIMIT = 1000
_BIGINT_MAX = 2**63 - 1


def _bad_cursor() -> ApiProblem:
    return ApiProblem(BAD_REQUEST, "Invalid cursor: use the next or previous link as given.")


class KeysetPagination(CursorPagination):
    page_size = 100
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"
    page_size_query_description = f"Items per page, 1 to {MAX_LIMIT} (default 100)."
    cursor_query_param = "cursor"
    cursor_query_description = "Where the page starts: from a previous page's next/previous link."
    ordering = "id"

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            message = f"A whole number from 1 to {MAX_LIMIT}."
            raise ApiProblem(INVALID_INPUT, f"limit: {message}", errors={"limit": [message]})
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None:
            # DRF reads any base64 as a cursor (junk as "the start"): only what it wrote passes.
            try:
                text = b64decode(raw.encode("ascii"), validate=True).decode("ascii")
                tokens = parse_qs(text, keep_blank_values=True, strict_parsing=True)
            except ValueError:  # binascii.Error and UnicodeError are ValueErrors
                raise _bad_cursor() from None
            if not tokens or set(tokens) - {"o", "r", "p"}:
                raise _bad_cursor()
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _bad_cursor() from None
        if cursor is not None and cursor.position is not None:
            # Every ordering of the API is an integer column: anything else was not made here.
            position = str(cursor.position)
            if not (position.isascii() and position.isdigit()) or int(position) > _BIGINT_MAX:
                raise _bad_cursor()
        return cursor

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": ["string", "null"], "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
        return parameters


def keyset(ordering: str) -> type[KeysetPagination]:
    """A pagination class ordered by ``ordering`` (an integer column, ``-`` for descending)."""
    name = "KeysetBy" + ordering.replace("-", "Desc_").title().replace("_", "")
    return type(name, (KeysetPagination,), {"ordering": ordering})
