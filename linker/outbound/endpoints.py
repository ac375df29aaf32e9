"""An agency's webhook endpoints: made, changed, disabled and enabled, their secret rotated,
deleted; listed and found for the agency's admins.

A secret is ``whsec_`` and 32 random bytes in base64 (the Standard Webhooks form, which the
``standardwebhooks`` library reads), shown once when made or rotated and kept only encrypted,
bound to the endpoint's ``uid`` and field. Callers check that the person administers the
agency (the page and the API do, through ``accounts.selectors``); the services check again.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Min, QuerySet
from django.http import Http404

from accounts.models import Agency, Tenant, User
from accounts.selectors import AnyUser, is_agency_admin
from linker.models import WebhookDelivery, WebhookEndpoint, WebhookEventType
from linker.outbound.addresses import webhook_url_clean
from linker.platform import vault
from linker.platform.delivery import Task, enqueue
from linker.platform.errors import InvalidInputError
from linker.platform.keys import webhook_secret_context

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
DESCRIPTION_MAX = WebhookEndpoint._meta.get_field("description").max_length or 200


@dataclass(frozen=True)
class NewSecret:
    """An endpoint with its secret, just made or rotated: shown once, never stored plain."""

    endpoint: WebhookEndpoint
    secret: str


def webhook_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's secret, decrypted (``VaultError`` if it does not decrypt)."""
    return vault.decrypt(endpoint.secret_encrypted, context=webhook_secret_context(endpoint))


def _secret_new(endpoint: WebhookEndpoint) -> str:
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    endpoint.secret_encrypted = vault.encrypt(secret, context=webhook_secret_context(endpoint))
    return secret


def _admin_check(*, user: AnyUser, agency: Agency) -> None:
    if not is_agency_admin(user=user, agency=agency):
        raise PermissionDenied("Only agency admins manage webhooks.")


def event_types_clean(event_types: Any) -> list[str]:
    """``event_types`` (a list, or comma-separated text) as known types in their order."""
    if isinstance(event_types, str):
        event_types = [part.strip() for part in event_types.split(",") if part.strip()]
    if not isinstance(event_types, list | tuple) or not event_types:
        raise InvalidInputError("Choose at least one event.", field="event_types")
    known = WebhookEventType.values
    unknown = sorted({str(t) for t in event_types} - set(known))
    if unknown:
        raise InvalidInputError(
            f"Unknown event {', '.join(repr(t) for t in unknown)}.", field="event_types"
        )
    return [t for t in known if t in event_types]


def _tenant_check(*, agency: Agency, tenant: Tenant | None) -> None:
    if tenant is not None and tenant.agency_id != agency.pk:
        # The caller found the tenant through the selectors; another agency's is still wrong.
        raise InvalidInputError("Choose one of this agency's tenants.", field="tenant")


def _description_clean(description: str) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInputError(f"At most {DESCRIPTION_MAX} characters.", field="description")
    return description


def webhook_endpoint_create(
    *,
    agency: Agency,
    user: AnyUser,
    url: str,
    event_types: Any,
    tenant: Tenant | None = None,
    description: str = "",
) -> NewSecret:
    """A new enabled endpoint of ``agency``, with its secret (shown once)."""
    _admin_check(user=user, agency=agency)
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for field, step in (
        ("url", lambda: webhook_url_clean(url)),
        ("event_types", lambda: event_types_clean(event_types)),
        ("description", lambda: _description_clean(description)),
    ):
        try:
            clean[field] = step()
        except InvalidInputError as exc:
            for name, messages in exc.field_errors.items():
                errors.setdefault(name, []).extend(messages)
    if errors:
        raise InvalidInputError(errors)
    _tenant_check(agency=agency, tenant=tenant)
    endpoint = WebhookEndpoint(
        agency=agency,
        tenant=tenant,
        url=clean["url"],
        event_types=clean["event_types"],
        description=clean["description"],
        created_by=user if isinstance(user, User) else None,
    )
    secret = _secret_new(endpoint)
    endpoint.save()
    return NewSecret(endpoint=endpoint, secret=secret)


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    user: AnyUser,
    url: str | None = None,
    event_types: Any = None,
    tenant: Tenant | bool | None = False,
    description: str | None = None,
) -> WebhookEndpoint:
    """Change what is given (``tenant=False``: leave the tenant filter as it is)."""
    _admin_check(user=user, agency=endpoint.agency)
    if url is not None:
        endpoint.url = webhook_url_clean(url)
    if event_types is not None:
        endpoint.event_types = event_types_clean(event_types)
    if description is not None:
        endpoint.description = _description_clean(description)
    if tenant is not False:
        assert tenant is None or isinstance(tenant, Tenant)
        _tenant_check(agency=endpoint.agency, tenant=tenant)
        endpoint.tenant = tenant
    endpoint.save()
    return endpoint


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint, user: AnyUser, enabled: bool) -> bool:
    """Enable or disable ``endpoint``; returns whether that changed anything.

    Enabling starts its waiting deliveries again (each queue at its head), with a fresh 24 h
    of retries.
    """
    _admin_check(user=user, agency=endpoint.agency)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.enabled == enabled:
            return False
        locked.enabled = enabled
        locked.failing_since = None
        who = getattr(user, "email", "an admin")
        locked.disabled_reason = "" if enabled else f"Disabled by {who}."
        locked.save(update_fields=["enabled", "failing_since", "disabled_reason"])
        if enabled:
            waiting = WebhookDelivery.objects.filter(
                endpoint=locked, state=WebhookDelivery.State.PENDING
            )
            waiting.update(first_attempt_at=None)
            deliveries_kick(waiting)
    endpoint.refresh_from_db()
    return True


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, user: AnyUser) -> NewSecret:
    """A new secret for ``endpoint`` (shown once); the old one stops signing at once."""
    _admin_check(user=user, agency=endpoint.agency)
    secret = _secret_new(endpoint)
    endpoint.save(update_fields=["secret_encrypted"])
    return NewSecret(endpoint=endpoint, secret=secret)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, user: AnyUser) -> None:
    """Delete ``endpoint`` with its deliveries and their log."""
    _admin_check(user=user, agency=endpoint.agency)
    endpoint.delete()


def webhook_endpoint_list(*, agency: Agency) -> QuerySet[WebhookEndpoint]:
    """The agency's endpoints, newest first. Callers check that the viewer administers it."""
    return WebhookEndpoint.objects.filter(agency=agency).select_related("tenant", "agency")


def webhook_endpoint_get(*, agency: Agency, id: Any) -> WebhookEndpoint:
    """One endpoint of ``agency``; 404 for another agency's as for a missing one."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        raise Http404("No such webhook endpoint.") from None
    endpoint = webhook_endpoint_list(agency=agency).filter(pk=pk).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def webhook_delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first, with their events."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event", "tenant")


def webhook_delivery_get(*, endpoint: WebhookEndpoint, id: Any) -> WebhookDelivery:
    """One delivery of ``endpoint``; 404 for any other."""
    try:
        pk = int(id)
    except (TypeError, ValueError):
        raise Http404("No such delivery.") from None
    delivery = webhook_delivery_list(endpoint=endpoint).filter(pk=pk).first()
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery


def deliveries_kick(deliveries: QuerySet[WebhookDelivery]) -> None:
    """Enqueue the head of each (endpoint, tenant) queue among ``deliveries`` after commit.

    Only heads: the rest follow in order as each head finishes.
    """
    heads = deliveries.order_by().values("endpoint_id", "tenant_id").annotate(head=Min("id"))
    for row in heads:
        enqueue(Task.WEBHOOK_DELIVERY_SEND, row["head"])
