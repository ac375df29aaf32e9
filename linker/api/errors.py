"""Every error of the API as RFC 9457 ``application/problem+json``, with a stable ``type``.

A problem's ``type`` is ``/api/v1/problems/<slug>`` (a URI reference, resolved against the
API's address), and that address answers with the type's description. The slugs never change
meaning; new kinds of error get new slugs. Validation problems carry ``errors``: field name →
messages.

:func:`problem_exception_handler` is DRF's ``EXCEPTION_HANDLER``: it turns DRF's exceptions,
Django's ``Http404`` / ``PermissionDenied`` and the services' ``LinkerError`` into problems,
and anything unexpected into a logged 500 problem without details.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from linker.platform.errors import NON_FIELD, InvalidInputError, LinkerError
from linker.platform.locks import LockTimeoutError
from linker.platform.ratelimit import BudgetExhaustedError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEMS_PATH = "/api/v1/problems/"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return PROBLEMS_PATH + self.slug


BAD_REQUEST = ProblemType(
    "bad-request", 400, "Bad request", "The request could not be read: not JSON, or a bad header."
)
INVALID_INPUT = ProblemType(
    "invalid-input",
    400,
    "Invalid input",
    "A value was refused. `errors` names each field with its messages.",
)
UNKNOWN_FIELD = ProblemType(
    "unknown-field",
    400,
    "Unknown field",
    "The body has a field this operation does not take (a typo?). `errors` names it.",
)
UNAUTHORIZED = ProblemType(
    "unauthorized",
    401,
    "Unauthorized",
    "No API key, or one that is unknown, revoked or whose maker left the agency. Send "
    "`Authorization: Bearer <key>`.",
)
INSUFFICIENT_SCOPE = ProblemType(
    "insufficient-scope",
    403,
    "Insufficient scope",
    "The key lacks the scope this operation needs (read, write or admin).",
)
FORBIDDEN = ProblemType(
    "forbidden",
    403,
    "Forbidden",
    "The role of the key's maker does not allow this, as the pages would not.",
)
NOT_FOUND = ProblemType(
    "not-found",
    404,
    "Not found",
    "No such object, or not one of the key's agency: both answer the same.",
)
METHOD_NOT_ALLOWED = ProblemType(
    "method-not-allowed", 405, "Method not allowed", "This address does not take that method."
)
NOT_ACCEPTABLE = ProblemType(
    "not-acceptable", 406, "Not acceptable", "The API answers JSON only (application/json)."
)
STATE_CONFLICT = ProblemType(
    "state-conflict",
    409,
    "Not possible now",
    "The object's state does not allow this (a link not usable, a request still running).",
)
PAYLOAD_TOO_LARGE = ProblemType(
    "payload-too-large", 413, "Payload too large", "The request body is over the API's limit."
)
UNSUPPORTED_MEDIA_TYPE = ProblemType(
    "unsupported-media-type",
    415,
    "Unsupported media type",
    "Send bodies as JSON (Content-Type: application/json).",
)
IDEMPOTENCY_KEY_REUSED = ProblemType(
    "idempotency-key-reused",
    422,
    "Idempotency-Key reused",
    "This Idempotency-Key was used with a different request. Use a new key for a new request.",
)
RATE_LIMITED = ProblemType(
    "rate-limited",
    429,
    "Too many requests",
    "The key sent more requests than its rate allows. Wait for Retry-After seconds.",
)
SERVER_ERROR = ProblemType(
    "server-error", 500, "Server error", "Something failed on our side; it was logged."
)
UNAVAILABLE = ProblemType(
    "unavailable",
    503,
    "Try again later",
    "Busy for a moment (a lock or Copernica's request budget). Wait for Retry-After seconds.",
)

PROBLEM_TYPES: dict[str, ProblemType] = {
    problem.slug: problem
    for problem in (
        BAD_REQUEST,
        INVALID_INPUT,
        UNKNOWN_FIELD,
        UNAUTHORIZED,
        INSUFFICIENT_SCOPE,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        NOT_ACCEPTABLE,
        STATE_CONFLICT,
        PAYLOAD_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        IDEMPOTENCY_KEY_REUSED,
        RATE_LIMITED,
        SERVER_ERROR,
        UNAVAILABLE,
    )
}
_BY_STATUS = {
    status.HTTP_400_BAD_REQUEST: BAD_REQUEST,
    status.HTTP_401_UNAUTHORIZED: UNAUTHORIZED,
    status.HTTP_403_FORBIDDEN: FORBIDDEN,
    status.HTTP_404_NOT_FOUND: NOT_FOUND,
    status.HTTP_405_METHOD_NOT_ALLOWED: METHOD_NOT_ALLOWED,
    status.HTTP_406_NOT_ACCEPTABLE: NOT_ACCEPTABLE,
    status.HTTP_409_CONFLICT: STATE_CONFLICT,
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: PAYLOAD_TOO_LARGE,
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: UNSUPPORTED_MEDIA_TYPE,
    status.HTTP_429_TOO_MANY_REQUESTS: RATE_LIMITED,
}


class ApiProblem(exceptions.APIException):
    """An error the API answers with a given problem type."""

    def __init__(
        self,
        problem: ProblemType,
        detail: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail)
        self.status_code = problem.status
        self.problem = problem
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers or {})


class UnknownFieldsError(ApiProblem):
    def __init__(self, names: list[str]) -> None:
        super().__init__(
            UNKNOWN_FIELD,
            f"Unknown field{'s' if len(names) > 1 else ''}: {', '.join(names)}.",
            errors={name: ["Unknown field."] for name in names},
        )


def problem_response(
    problem: ProblemType,
    detail: str,
    *,
    instance: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = dict(errors)
    return Response(
        body, status=problem.status, headers=dict(headers or {}), content_type=PROBLEM_CONTENT_TYPE
    )


def _messages(detail: Any) -> list[str]:
    """DRF's nested error details flattened to plain messages."""
    if isinstance(detail, Mapping):
        return [
            f"{key}: {message}" for key, value in detail.items() for message in _messages(value)
        ]
    if isinstance(detail, list | tuple):
        return [message for item in detail for message in _messages(item)]
    return [str(detail)]


def validation_errors(detail: Any) -> dict[str, list[str]]:
    """A serializer's errors as field → messages (``non_field_errors`` for the whole body)."""
    if isinstance(detail, Mapping):
        return {str(field): _messages(value) for field, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _linker_problem(
    exc: LinkerError,
) -> tuple[ProblemType, dict[str, list[str]] | None, dict[str, str]]:
    if isinstance(exc, InvalidInputError):
        errors = {
            ("non_field_errors" if field == NON_FIELD else field): messages
            for field, messages in exc.field_errors.items()
        }
        return INVALID_INPUT, errors or None, {}
    if isinstance(exc, BudgetExhaustedError | LockTimeoutError):
        return UNAVAILABLE, None, _retry_after(getattr(exc, "retry_after", None) or 5)
    return STATE_CONFLICT, None, {}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler: every error as a problem (see the module docstring)."""
    request = context.get("request")
    instance = request.path if request is not None else None
    if isinstance(exc, ApiProblem):
        return problem_response(
            exc.problem, str(exc.detail), instance=instance, errors=exc.errors, headers=exc.headers
        )
    if isinstance(exc, Http404):
        return problem_response(NOT_FOUND, str(exc) or "Not found.", instance=instance)
    if isinstance(exc, PermissionDenied):
        return problem_response(
            FORBIDDEN, str(exc) or "Your role does not allow this.", instance=instance
        )
    if isinstance(exc, LinkerError):
        problem, errors, headers = _linker_problem(exc)
        return problem_response(
            problem, exc.message or problem.title, instance=instance, errors=errors, headers=headers
        )
    if isinstance(exc, exceptions.ValidationError):
        fields = validation_errors(exc.detail)
        named = [(field, messages[0]) for field, messages in fields.items() if messages]
        field, message = named[0] if named else ("non_field_errors", "Invalid input.")
        detail = message if field == "non_field_errors" else f"{field}: {message}"
        return problem_response(INVALID_INPUT, detail, instance=instance, errors=fields)
    if isinstance(exc, RecursionError):
        # JSON nested deeper than Python's parser goes: DRF's parser only catches ValueError.
        return problem_response(BAD_REQUEST, "The JSON is nested too deeply.", instance=instance)
    if isinstance(exc, exceptions.APIException):
        extra: dict[str, str] = {}
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            extra["WWW-Authenticate"] = auth_header
        if isinstance(exc, exceptions.Throttled):
            extra.update(_retry_after(exc.wait))
        kind = _BY_STATUS.get(exc.status_code, SERVER_ERROR)
        detail = " ".join(_messages(exc.detail))
        return problem_response(kind, detail, instance=instance, headers=extra)
    logger.exception("API request %s failed", instance)
    return problem_response(
        SERVER_ERROR, "Something failed on our side; it was logged.", instance=instance
    )
