"""The API's own description: the OpenAPI document, the reference page, the problem types, and
the 404 problem for any address under ``/api/v1/`` that is not an operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from linker.api.errors import NOT_FOUND, PROBLEM_TYPES, ApiProblem

SCHEMA_PATH = "/api/v1/openapi.json"


class SchemaView(SpectacularJSONAPIView):
    """OpenAPI 3.1, public: it describes the API, not anyone's data."""

    throttle_classes: list[Any] = []


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI on the sidecar's files, its start-up script served as a file of its own
    (``?script``), so the page runs under the site's strict CSP."""

    url = SCHEMA_PATH
    template_name = "api/docs.html"
    title = "Copernica Linker API"
    throttle_classes: list[Any] = []


class _PublicView(APIView):
    schema = None  # not an operation of the API: left out of the OpenAPI document
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []


class ProblemTypeView(_PublicView):
    """What a problem ``type`` means (the address a problem's ``type`` names)."""

    def get(self, request: Request, slug: str) -> Response:
        problem = PROBLEM_TYPES.get(slug)
        if problem is None:
            raise ApiProblem(NOT_FOUND, "No such problem type.")
        return Response(
            {
                "type": problem.uri,
                "title": problem.title,
                "status": problem.status,
                "description": problem.description,
            }
        )


class NotFoundView(APIView):
    """Any other address under /api/v1/: a 404 problem, whatever the method. A key sent is
    still checked, so that the request log files the request under it."""

    schema = None
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    def _missing(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise ApiProblem(NOT_FOUND, "No such API address: see /api/v1/docs.")

    get = post = put = patch = delete = head = options = _missing
