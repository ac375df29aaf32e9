"""The OAuth handshake with Copernica, and linking with a pasted API token.

``state`` is 256 bits from ``secrets``; only its SHA-256 is stored, with the tenant, the user,
the browser session and the application, for ten minutes, and it is consumed exactly once
(before the code is exchanged, so a replayed callback can never exchange twice). authlib builds
the authorize URL; ``api_client.oauth`` performs the GET token exchange.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from accounts.selectors import AnyUser, can_link_tenant
from api_client import (
    AccessDeniedError,
    OAuthError,
    TokenExchangeError,
    authorization_url,
    callback_code,
    exchange_code,
)
from linker.linking.applications import (
    application_for_tenant,
    application_secret,
    configured_hosts,
)
from linker.linking.connect_links import connect_link_is_open
from linker.linking.errors import LinkingError
from linker.linking.identity import Endpoints, identity_check
from linker.linking.links import link_get, link_store_token
from linker.models import ConnectLink, Link, LinkEvent, OAuthState
from linker.platform.vault import lookup_hash

logger = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
STATE_BYTES = 32  # 256 bits -> 43 URL-safe characters, above Copernica's 32-character floor
_STATE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")

INVALID_STATE = (
    "This return from Copernica does not match a sign-in started here, or it was already used "
    "or has expired. Start again from the tenant page."
)


@dataclass(frozen=True)
class CallbackResult:
    """What the callback view needs: where to send the browser and what to tell the user."""

    tenant: Tenant | None
    link: Link | None
    error: str = ""
    connect_link: ConnectLink | None = None


def link_connect_start(
    *,
    tenant: Tenant,
    user: AnyUser,
    session_key: str,
    connect_link: ConnectLink | None = None,
) -> str:
    """Begin the handshake for ``tenant``; returns Copernica's consent page URL.

    Either ``user`` may link the tenant, or ``connect_link`` is a valid invitation for it.
    """
    if connect_link is None:
        if not can_link_tenant(user=user, tenant=tenant):
            raise PermissionDenied("Your role does not allow linking this tenant.")
    elif connect_link.tenant_id != tenant.pk or not connect_link_is_open(connect_link):
        raise LinkingError("This connect link is no longer valid. Ask your agency for a new one.")
    application = application_for_tenant(agency=tenant.agency)
    if application is None:
        raise LinkingError(
            "No Copernica application is registered yet. An agency admin must register one "
            "under Applications before tenants can connect."
        )
    state = secrets.token_urlsafe(STATE_BYTES)
    OAuthState.objects.create(
        state_hash=lookup_hash(state),
        tenant=tenant,
        application=application,
        user=user if user.is_authenticated else None,
        session_hash=lookup_hash(session_key),
        connect_link=connect_link,
        expires_at=timezone.now() + STATE_TTL,
    )
    link = link_get(tenant=tenant)
    if link is not None:
        LinkEvent.objects.create(
            link=link,
            kind=LinkEvent.Kind.CONNECT_STARTED,
            message="Sent to Copernica's consent page.",
            actor=user if user.is_authenticated else None,
        )
    return authorization_url(
        application.authorize_url,
        client_id=application.client_id,
        redirect_uri=application.redirect_uri,
        state=state,
    )


def _consume_state(*, state: str, session_key: str, user: AnyUser) -> OAuthState | None:
    """Take the matching state out of play. ``None`` if there is none for this browser."""
    with transaction.atomic():
        row = (
            OAuthState.objects.select_for_update(of=("self",))
            .select_related("tenant", "application", "connect_link")
            .filter(state_hash=lookup_hash(state), consumed_at__isnull=True)
            .first()
        )
        # Another browser or user presenting someone's state gets nothing, and the state
        # stays usable for its owner.
        if row is None or row.session_hash != lookup_hash(session_key):
            return None
        if row.user_id is not None and row.user_id != getattr(user, "pk", None):
            return None
        row.consumed_at = timezone.now()
        row.save(update_fields=["consumed_at"])
    if row.expires_at <= row.consumed_at:
        return None
    return row


def _fail(row: OAuthState, message: str, kind: LinkEvent.Kind, user: AnyUser) -> CallbackResult:
    # A tenant that was never linked has no Link row yet; its history lives on that row, so
    # the first failure (a *Deny* most often) creates it: tokenless, without an account, which
    # every page and selector reads as "not linked".
    link = link_get(tenant=row.tenant) or Link.objects.get_or_create(tenant=row.tenant)[0]
    LinkEvent.objects.create(
        link=link,
        kind=kind,
        message=message[:500],
        actor=user if user.is_authenticated else None,
    )
    return CallbackResult(
        tenant=row.tenant, link=link, error=message, connect_link=row.connect_link
    )


def link_connect_complete(
    *, params: Mapping[str, str], session_key: str, user: AnyUser
) -> CallbackResult:
    """Handle Copernica's redirect back. Never raises for bad input; says what happened."""
    state = params.get("state", "")
    if not isinstance(state, str) or not _STATE_SHAPE.match(state):
        return CallbackResult(tenant=None, link=None, error=INVALID_STATE)
    row = _consume_state(state=state, session_key=session_key, user=user)
    if row is None:
        return CallbackResult(tenant=None, link=None, error=INVALID_STATE)
    if row.connect_link is not None:
        if not connect_link_is_open(row.connect_link):
            return _fail(row, "This connect link was revoked.", LinkEvent.Kind.LINK_FAILED, user)
    elif not can_link_tenant(user=user, tenant=row.tenant):
        return _fail(row, "Your role no longer allows linking.", LinkEvent.Kind.LINK_FAILED, user)

    try:
        # The state was matched against its stored hash above; Copernica's own answer next.
        code = callback_code(params, expected_state=state)
    except AccessDeniedError:
        return _fail(
            row,
            "Access was not granted on Copernica's page, so nothing was linked.",
            LinkEvent.Kind.ACCESS_DENIED,
            user,
        )
    except OAuthError as exc:
        message = (
            "Copernica reported an error and linked nothing."
            if params.get("error")
            else "Copernica sent no usable authorization code."
        )
        logger.info("OAuth callback for tenant %s refused: %s", row.tenant_id, exc)
        return _fail(row, message, LinkEvent.Kind.LINK_FAILED, user)

    application = row.application
    try:
        api_token = exchange_code(
            application.token_url,
            client_id=application.client_id,
            client_secret=application_secret(application),
            redirect_uri=application.redirect_uri,
            code=code,
            timeout=settings.COPERNICA_TIMEOUT,
        )
    except TokenExchangeError as exc:
        logger.warning("Token exchange for tenant %s failed: %s", row.tenant_id, exc)
        return _fail(
            row,
            "Copernica did not hand over access "
            f"({_exchange_reason(exc)}). Nothing was stored; please try again.",
            LinkEvent.Kind.LINK_FAILED,
            user,
        )
    endpoints = Endpoints.of(application)
    try:
        identity = identity_check(api_token=api_token, endpoints=endpoints)
    except LinkingError as exc:
        return _fail(row, str(exc), LinkEvent.Kind.LINK_FAILED, user)
    with transaction.atomic():
        # Used first, so that storing the token revokes only the tenant's other open links.
        if row.connect_link is not None:
            ConnectLink.objects.filter(pk=row.connect_link.pk).update(used_at=timezone.now())
        link = link_store_token(
            tenant=row.tenant,
            api_token=api_token,
            identity=identity,
            endpoints=endpoints,
            application=application,
            user=user,
            how="through Copernica's consent page",
        )
    return CallbackResult(tenant=row.tenant, link=link, connect_link=row.connect_link)


def _exchange_reason(exc: TokenExchangeError) -> str:
    status = getattr(exc, "status", None)
    if status == 400:
        return "the sign-in code was refused"
    if status is not None:
        return f"Copernica answered with an error, HTTP {status}"
    return "Copernica could not be reached in time"


def link_with_token(*, tenant: Tenant, user: AnyUser, api_token: str) -> Link:
    """Link ``tenant`` with an API token made by hand in Copernica's dashboard."""
    if not can_link_tenant(user=user, tenant=tenant):
        raise PermissionDenied("Your role does not allow linking this tenant.")
    api_token = api_token.strip()
    if not re.fullmatch(r"[A-Za-z0-9._~+/=-]{16,512}", api_token):
        raise LinkingError(
            "That does not look like a Copernica API token (16 or more letters and digits)."
        )
    endpoints = Endpoints.of(configured_hosts())
    identity = identity_check(api_token=api_token, endpoints=endpoints)
    return link_store_token(
        tenant=tenant,
        api_token=api_token,
        identity=identity,
        endpoints=endpoints,
        application=None,
        user=user,
        how="with a pasted API token",
    )
