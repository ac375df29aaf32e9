"""Reading Copernica's answers: JSON bodies, paging envelopes, created IDs, and errors.

The one place where an HTTP answer that is not a success becomes an exception of
:mod:`api_client.errors`, and where a success body the client cannot use becomes
:class:`UnexpectedResponseError`.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from .errors import (
    AlreadyRemovedError,
    BadRequestError,
    NotFoundError,
    ProfileAlreadyRemovedError,
    RateLimitedError,
    ServerError,
    StatusError,
    SubprofileAlreadyRemovedError,
    UnexpectedResponseError,
)

_NOT_FOUND_MESSAGES = (
    "No entity with supplied ID",
    "No database with supplied ID",
    "No collection with given ID",
    "No subprofile with supplied ID",
    "No webhook with supplied ID",
)
_MAX_MESSAGE = 300


def decode_json(response: httpx.Response) -> Any:
    """The decoded JSON body of ``response``.

    orjson decodes a page of 1,000 profiles in a quarter of the standard library's time, and
    that time holds the GIL against the thread that writes pages. What orjson refuses and the
    standard library takes (``NaN``, a body in another encoding than UTF-8, a lone surrogate
    escape) is decoded by the standard library as before. One difference is accepted: orjson
    reads an integer beyond 64 bits as a float; Copernica writes field values, IDs and
    timestamps as strings, and its only numbers are the envelope's counts.
    """
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    try:
        return response.json()
    except ValueError:
        raise UnexpectedResponseError("Copernica's answer is not valid JSON.") from None


def json_object(document: Any) -> dict[str, Any]:
    """``document`` if it is a JSON object."""
    if not isinstance(document, dict):
        raise UnexpectedResponseError("Copernica's answer is not a JSON object.")
    return document


def paging_envelope(response: httpx.Response) -> dict[str, Any]:
    """The ``{"data": [...], "count": n, ...}`` envelope of a list answer."""
    envelope = decode_json(response)
    if (
        not isinstance(envelope, dict)
        or not isinstance(envelope.get("data"), list)
        or not isinstance(envelope.get("count"), int)
    ):
        raise UnexpectedResponseError("Copernica's list answer is not a paging envelope.")
    return envelope


def item_id_of(item: Any, what: str = "profile") -> int:
    """The numeric ``ID`` of a (sub)profile in a list answer; ``what`` names it in the error."""
    try:
        return int(item["ID"])
    except (KeyError, TypeError, ValueError):
        raise UnexpectedResponseError(
            f"A {what} in Copernica's answer has no numeric ID."
        ) from None


def created_id(response: httpx.Response, what: str = "profile") -> str:
    """The ID of the (sub)profile a create answered for (``X-Created``, else ``X-location``)."""
    created = response.headers.get("X-Created", "").strip()
    if created.isdigit():
        return created
    location = response.headers.get("X-location") or response.headers.get("Location") or ""
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    if tail.isdigit():
        return tail
    raise UnexpectedResponseError(f"Copernica did not say which {what} it created.")


def error_message(response: httpx.Response) -> str:
    """Copernica's ``error.message``, or a short description of a body without one."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:_MAX_MESSAGE]
    if response.status_code >= 500:
        return "Copernica is temporarily unavailable"
    return response.reason_phrase or "Unexpected answer"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, ``None`` when absent or not a number."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def is_auth_failure(status: int, message: str) -> bool:
    """Whether Copernica refused the JWT (it answers some of those with a 400)."""
    return status in (401, 403) or (status == 400 and "token" in message.lower())


def transient_error(
    status: int, message: str, retry_after: float | None, attempt: int
) -> StatusError:
    """The error for a 429 or 5xx that is not (or no longer) retried."""
    if status == 429:
        return RateLimitedError(status, message, retry_after=retry_after, attempt=attempt)
    return ServerError(status, message, attempt=attempt)


def status_error(status: int, message: str, attempt: int) -> StatusError:
    """The error for any other status that is not a success."""
    if status == 404 or (status == 400 and message.startswith(_NOT_FOUND_MESSAGES)):
        return NotFoundError(status, message, attempt=attempt)
    if status == 400 and "already been removed" in message:
        # "This subprofile has ..." contains "profile has ...": look for it first.
        if "subprofile" in message.lower():
            return SubprofileAlreadyRemovedError(status, message, attempt=attempt)
        if "profile" in message.lower():
            return ProfileAlreadyRemovedError(status, message, attempt=attempt)
        return AlreadyRemovedError(status, message, attempt=attempt)
    if status == 400:
        return BadRequestError(status, message, attempt=attempt)
    return StatusError(status, message, attempt=attempt)
