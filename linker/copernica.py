"""The per-tenant client service: a ``Link`` in, a ready ``api_client`` client out.

JWTs are shared by every process through the Django cache (Redis in production), encrypted with
the vault and bound to the link and its token version, so a disconnect or a new token makes
every cached JWT of the old token unreachable at once. Refreshes are single-flight across
processes: the client takes a shared lock, looks again, and only then exchanges.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from api_client import CachedJwt, CopernicaClient, TokenRejectedError
from linker import vault
from linker.locks import shared_lock
from linker.models import Link, LinkEvent, LinkState

logger = logging.getLogger(__name__)


class LinkNotUsableError(Exception):
    """The link has no usable token (pending, needs reconnect or disconnected)."""

    def __init__(self, link: Link) -> None:
        self.link_id = link.pk
        self.state = link.state
        super().__init__(
            f"The Copernica link of {link.tenant} is {link.get_state_display().lower()}; "
            "no calls are made until it is reconnected."
        )


def token_context(link: Link) -> str:
    """The associated data binding a link's token ciphertext to its row and field."""
    return f"linker_link:{link.uid}:access_token"


def jwt_cache_key(link: Link) -> str:
    return f"jwt:{link.uid}:{link.token_version}"


class LinkTokenCache:
    """The ``api_client.TokenCache`` of one link: encrypted JWTs in the shared Django cache."""

    def __init__(self, link: Link) -> None:
        self._context = f"jwt:{link.uid}:{link.token_version}"

    def get(self, key: str) -> CachedJwt | None:
        stored = cache.get(key)
        if not isinstance(stored, dict):
            return None
        try:
            token = vault.decrypt(stored["jwt"], context=self._context)
        except (vault.VaultError, KeyError):
            return None  # unreadable: exchange again rather than send garbage
        return CachedJwt(token=token, expires_at=float(stored["exp"]))

    def set(self, key: str, jwt: CachedJwt) -> None:
        ttl = max(1, int(jwt.expires_at - time.time()))
        sealed = vault.encrypt(jwt.token, context=self._context)
        cache.set(key, {"jwt": sealed, "exp": jwt.expires_at}, timeout=ttl)

    def discard(self, key: str, token: str) -> None:
        current = self.get(key)
        if current is not None and current.token == token:
            cache.delete(key)

    def lock(self, key: str) -> AbstractContextManager[object]:
        return shared_lock(key, ttl=60, wait=60)


def link_token(link: Link) -> str:
    """The decrypted API token of a usable link. Fails closed: never returns ciphertext."""
    if not link.is_usable:
        raise LinkNotUsableError(link)
    return vault.decrypt(link.access_token_encrypted, context=token_context(link))


def client_for(link: Link, **options: object) -> CopernicaClient:
    """A client for the link's Copernica account, sharing JWTs with every other process."""
    token = link_token(link)
    return CopernicaClient(
        token,
        api_url=link.api_url or settings.COPERNICA_API_URL,
        auth_url=link.auth_url or settings.COPERNICA_AUTH_URL,
        rest_url=link.rest_url or settings.COPERNICA_REST_URL,
        token_cache=LinkTokenCache(link),
        cache_key=jwt_cache_key(link),
        timeout=settings.COPERNICA_TIMEOUT,
        **options,  # type: ignore[arg-type]
    )


def token_still_valid(*, token: str, link: Link) -> bool:
    """Ask the auth service once more, bypassing every cache (the re-check before giving up)."""
    probe = CopernicaClient(
        token,
        api_url=link.api_url or settings.COPERNICA_API_URL,
        auth_url=link.auth_url or settings.COPERNICA_AUTH_URL,
        timeout=settings.COPERNICA_TIMEOUT,
        max_retries=1,
    )
    try:
        probe.identity()
    except TokenRejectedError:
        return False
    finally:
        probe.close()
    return True


def link_mark_needs_reconnect(*, link: Link, reason: str) -> bool:
    """Move an active link to *needs reconnect* once; returns whether this call moved it."""
    with transaction.atomic():
        locked = Link.objects.select_for_update().get(pk=link.pk)
        if locked.state != LinkState.ACTIVE or locked.token_version != link.token_version:
            return False
        locked.state = LinkState.NEEDS_RECONNECT
        locked.state_changed_at = timezone.now()
        locked.state_reason = reason[:300]
        locked.save(update_fields=["state", "state_changed_at", "state_reason"])
        LinkEvent.objects.create(link=locked, kind=LinkEvent.Kind.TOKEN_REJECTED, message=reason)
    link.state = LinkState.NEEDS_RECONNECT
    logger.warning("Link %s needs reconnect: %s", link.pk, reason)
    from linker.notifications import notify_link_needs_reconnect  # notifications use this module

    notify_link_needs_reconnect(link=link)
    return True


@contextmanager
def link_session(link: Link, **options: object) -> Iterator[CopernicaClient]:
    """``client_for`` as a context manager that turns a rejected token into *needs reconnect*.

    When the auth service rejects the stored token, it is checked once more; if it is still
    rejected the link moves to *needs reconnect* and no further exchanges are tried.
    """
    client = client_for(link, **options)
    try:
        yield client
    except TokenRejectedError:
        if not token_still_valid(token=link_token(link), link=link):
            link_mark_needs_reconnect(
                link=link,
                reason="Copernica rejected the stored API token (access revoked or token deleted).",
            )
            raise LinkNotUsableError(link) from None
        raise
    finally:
        client.close()
