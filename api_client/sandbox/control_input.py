"""Reading the control API's JSON bodies: one error type and the value checks.

Shared by :mod:`~api_client.sandbox.admin` and its webhook and profile calls, so each
refuses bad input with a 400 that says what to send instead.
"""

from __future__ import annotations

import json
from typing import Any

from .http import Request


class ControlError(Exception):
    """Input the control API refuses (answered 400 with this message)."""


def json_body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        document = json.loads(request.body)
    except ValueError:
        raise ControlError("The body is not JSON") from None
    if not isinstance(document, dict):
        raise ControlError("The body must be a JSON object")
    return document


def string(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ControlError(f"{key} must be a string")
    return value


def bounded(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = integer(body, key, default)
    if not low <= value <= high:
        raise ControlError(f"{key} must be between {low} and {high}")
    return int(value)


def integer(body: dict[str, Any], key: str, default: int | None) -> Any:
    value = body.get(key, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ControlError(f"{key} must be an integer")
    return value


def identifier(body: dict[str, Any], key: str) -> int:
    """An ID given as a number or a string of digits."""
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ControlError(f"{key} must be an ID (a number)")


def mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key, {})
    if not isinstance(value, dict):
        raise ControlError(f"{key} must be an object of field names and values")
    return value
