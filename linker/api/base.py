"""What every API view shares: the body size limit, input read strictly, and the way to the
key's tenant and its link."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import Http404
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Tenant
from linker.api.access import api_link_get, api_tenant_get
from linker.api.errors import INVALID_INPUT, PAYLOAD_TOO_LARGE, ApiProblem, UnknownFieldsError
from linker.linking.links import link_get
from linker.models import ApiKey, Link

#: The largest request body the API reads. A profile change with every field of a large
#: database is a few kilobytes; anything near this is a mistake or an attack.
MAX_BODY_BYTES = 256 * 1024


def body_size_check(request: Request) -> None:
    """413 for a declared body over :data:`MAX_BODY_BYTES`, before anything reads it.

    The WSGI server reads no more than Content-Length, so a body cannot outgrow its header.
    """
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise ApiProblem(
            PAYLOAD_TOO_LARGE,
            f"The body has {length} bytes; the API takes at most {MAX_BODY_BYTES}.",
        )


def api_input(
    serializer_class: type[serializers.Serializer], data: Any, **context: Any
) -> dict[str, Any]:
    """``data`` validated by ``serializer_class``; a field it does not take is refused (400
    ``unknown-field``) rather than ignored, so a typo never passes for a default."""
    if not isinstance(data, Mapping):
        message = "Send a JSON object."
        raise ApiProblem(INVALID_INPUT, message, errors={"non_field_errors": [message]})
    writable = {name for name, field in serializer_class().fields.items() if not field.read_only}
    unknown = sorted(str(name) for name in data if name not in writable)
    if unknown:
        raise UnknownFieldsError(unknown)
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _NoInput(serializers.Serializer):
    """The body of an action that takes none."""


def no_input(request: Request) -> None:
    """Refuses any field in the body of an action that takes none (an empty object is fine)."""
    if request.data:
        api_input(_NoInput, request.data)


class ApiView(GenericAPIView):
    """Base of every API view. ``scopes`` maps a method to the scope it needs (default: read
    to read, write to change)."""

    scopes: dict[str, str] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        body_size_check(request)
        super().initial(request, *args, **kwargs)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        # Answers hold an agency's data (or a problem about it): no cache keeps them.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @property
    def key(self) -> ApiKey:
        key = self.request.auth
        assert isinstance(key, ApiKey)  # HasScope let no request without one through
        return key

    def tenant(self) -> Tenant:
        """The tenant of the URL, if the key may see it (404 otherwise, missing or foreign)."""
        cached = getattr(self, "_tenant", None)
        if cached is None:
            cached = api_tenant_get(
                user=self.request.user, key=self.key, id=self.kwargs["tenant_id"]
            )
            self._tenant = cached
        return cached

    def link(self) -> Link:
        """The tenant's link (404 when it was never linked, as for a tenant the key may not
        see). One query reaches both when the tenant was not fetched before."""
        cached = getattr(self, "_link", None)
        if cached is not None:
            return cached
        tenant = getattr(self, "_tenant", None)
        if tenant is not None:
            link = link_get(tenant=tenant)
        else:
            link = api_link_get(user=self.request.user, key=self.key, id=self.kwargs["tenant_id"])
            if link is not None:
                self._tenant = link.tenant
        if link is None:
            self.tenant()  # 404 for a tenant the key may not see, before anything is said
            raise Http404("This tenant was never linked to Copernica.")
        self._link = link
        return link
