"""How the OpenAPI document is made: the schema class of the API's views, and the error
answers every operation lists, as ``application/problem+json`` (a post-processing hook)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

from linker.api.errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPES

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem. `type` is stable; GET it for its description.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Field name → messages, for a refused input.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
# Statuses any operation can answer; writes add 409, and those taking an Idempotency-Key 422.
_EVERY_OPERATION = (400, 401, 403, 404, 406, 413, 415, 429, 503)


def _response(status: int) -> dict[str, Any]:
    kinds = [problem for problem in PROBLEM_TYPES.values() if problem.status == status]
    response: dict[str, Any] = {
        "description": "; ".join(f"`{p.slug}`: {p.description}" for p in kinds),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _takes_idempotency_key(operation: dict[str, Any]) -> bool:
    return any(
        parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key"
        for parameter in operation.get("parameters", [])
    )


def problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    shared = components.setdefault("responses", {})
    for status in sorted({*_EVERY_OPERATION, 409, 422}):
        shared[f"Problem{status}"] = _response(status)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            statuses = list(_EVERY_OPERATION)
            if method != "get":
                statuses.append(409)
            if _takes_idempotency_key(operation):
                statuses.append(422)
            answers = operation.setdefault("responses", {})
            for status in statuses:
                answers.setdefault(str(status), {"$ref": f"#/components/responses/Problem{status}"})
    return result


class ApiAutoSchema(AutoSchema):
    """Operations are described by their ``extend_schema`` summary and description only, not
    by the docstrings of the view classes (written for the code's readers)."""

    def get_description(self) -> str:
        return ""
