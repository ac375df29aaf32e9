"""Query parameters of the API, parsed strictly: a value that does not parse is a 400 problem
naming the parameter, never a silent default."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.request import Request

from linker.api.errors import INVALID_INPUT, ApiProblem
from linker.api.serializers.common import BIGINT_MAX


def _refuse(name: str, message: str) -> ApiProblem:
    return ApiProblem(INVALID_INPUT, f"{name}: {message}", errors={name: [message]})


def int_query(request: Request, name: str, *, low: int = 1, high: int = BIGINT_MAX) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise _refuse(name, f"A whole number from {low} to {high}.")
    return int(raw)


def datetime_query(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = parse_datetime(raw) if len(raw) <= 64 else None
    except ValueError:
        moment = None
    problem = "An ISO 8601 date and time, such as 2026-01-31T09:00:00Z."
    if moment is None:
        raise _refuse(name, problem)
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        # In UTC here: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 allows.
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _refuse(name, problem) from None


def choice_query(request: Request, name: str, choices: Sequence[str]) -> str:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return ""
    if raw not in choices:
        raise _refuse(name, f"One of: {', '.join(choices)}.")
    return raw


def text_query(request: Request, name: str, *, max_length: int = 300) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if len(raw) > max_length or "\x00" in raw:
        raise _refuse(name, f"At most {max_length} characters, no NUL.")
    return raw
