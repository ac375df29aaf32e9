"""The JSON API (``linker.api``): Django REST framework and its OpenAPI document."""

from __future__ import annotations

# --- The JSON API (linker.api) ---------------------------------------------------------------

# Requests per API key ("count/period", period second, minute, hour or day), counted in the
# shared cache; past it the API answers 429 with Retry-After.
LINKER_API_RATE = "600/minute"
REST_FRAMEWORK = {
    # API keys only (Authorization: Bearer): no session, so no CSRF to think about.
    "DEFAULT_AUTHENTICATION_CLASSES": ["linker.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["linker.api.auth.HasScope"],
    # Per key, at LINKER_API_RATE.
    "DEFAULT_THROTTLE_CLASSES": ["linker.api.auth.ApiKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": None,
    # OPTIONS answers 405: the OpenAPI document describes every operation.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "linker.api.schema.ApiAutoSchema",
    # Every error as RFC 9457 problem+json.
    "EXCEPTION_HANDLER": "linker.api.errors.problem_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Copernica Linker API",
    "DESCRIPTION": (
        "Everything the pages do, for an agency's own systems. Send an API key of your agency "
        "as `Authorization: Bearer <key>`; errors are RFC 9457 `application/problem+json`."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the sidecar package, served by us: no CDN, the strict CSP stays.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the document's URL to swagger.io (and break the CSP).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "linker.api.schema.problem_responses",
    ],
    # Several models have a "state" and a "kind": one named enum each.
    "ENUM_NAME_OVERRIDES": {
        "LinkStateEnum": "linker.models.links.LinkState",
        "LinkEventKindEnum": "linker.models.links.LinkEvent.Kind",
        "SyncStateEnum": "linker.models.runs.SyncState",
        "ChangeKindEnum": "linker.models.outbox.ProfileChange.Kind",
        "ChangeStateEnum": "linker.models.outbox.ProfileChange.State",
        # Endpoints' event types and a delivery's event type: one enum.
        "WebhookEventTypeEnum": "linker.models.webhooks.WebhookEventType",
    },
}
