"""The per-tenant client service: a ``Link`` in, a ready, metered Copernica client out.

JWTs are shared by every process through the Django cache (Redis in production), encrypted with
the vault and bound to the link and its token version, so a disconnect or a new token makes
every cached JWT of the old token unreachable at once. Refreshes are single-flight across
processes: the client takes a shared lock, looks again, and only then exchanges.

:func:`metered_session` is the one way the domains call Copernica for a link (syncs, write-back,
the daily identity probe): every HTTP attempt first takes a token from the account's request
budget and is counted in the request ledger, a 429 empties the budget for its ``Retry-After``,
and a token Copernica rejects moves the link to *needs reconnect*.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from api_client import (
    CachedJwt,
    CopernicaClient,
    RateLimitedError,
    RequestRecord,
    TokenRejectedError,
)
from linker.linking.errors import LinkNotUsableError
from linker.linking.identity import Endpoints, token_still_valid
from linker.linking.request_log import RequestLogBuffer
from linker.models import Link, LinkEvent, LinkState
from linker.notifications.services import notify_link_needs_reconnect
from linker.platform import vault
from linker.platform.keys import token_context
from linker.platform.ledger import RequestTally
from linker.platform.locks import shared_lock
from linker.platform.ratelimit import RequestBudget, account_key_for

logger = logging.getLogger(__name__)


def jwt_cache_key(link: Link) -> str:
    return f"jwt:{link.uid}:{link.token_version}"


#: How long one client keeps the JWT it read from the shared cache before it reads it again
#: (a Redis GET and a decryption, ~0.2 ms, on every request otherwise): a batch of write-back
#: calls reads it once, and a disconnect, which makes the shared entry unreachable, reaches a
#: client in the middle of its work within this.
JWT_MEMO_SECONDS = 1.0
#: A JWT closer than this to its expiry is always read from the shared cache, where another
#: process may have refreshed it already (twice the client's refresh margin).
JWT_MEMO_MIN_LIFETIME = 600.0


class LinkTokenCache:
    """The ``api_client.TokenCache`` of one link: encrypted JWTs in the shared Django cache,
    kept in memory by one client for :data:`JWT_MEMO_SECONDS`."""

    def __init__(self, link: Link) -> None:
        self._context = jwt_cache_key(link)
        self._memo: tuple[str, float, CachedJwt] | None = None

    def get(self, key: str) -> CachedJwt | None:
        if self._memo is not None:
            memo_key, until, jwt = self._memo
            if (
                memo_key == key
                and time.monotonic() < until
                and jwt.expires_at - time.time() > JWT_MEMO_MIN_LIFETIME
            ):
                return jwt
            self._memo = None
        stored = cache.get(key)
        if not isinstance(stored, dict):
            return None
        try:
            token = vault.decrypt(stored["jwt"], context=self._context)
        except (vault.VaultError, KeyError):
            return None  # unreadable: exchange again rather than send garbage
        jwt = CachedJwt(token=token, expires_at=float(stored["exp"]))
        self._memo = (key, time.monotonic() + JWT_MEMO_SECONDS, jwt)
        return jwt

    def set(self, key: str, jwt: CachedJwt) -> None:
        ttl = max(1, int(jwt.expires_at - time.time()))
        sealed = vault.encrypt(jwt.token, context=self._context)
        cache.set(key, {"jwt": sealed, "exp": jwt.expires_at}, timeout=ttl)
        self._memo = (key, time.monotonic() + JWT_MEMO_SECONDS, jwt)

    def discard(self, key: str, token: str) -> None:
        self._memo = None  # refused: the shared cache decides
        current = self.get(key)
        self._memo = None
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
    """A client for the link's Copernica account, sharing JWTs with every other process.

    Unmetered: the domains call Copernica through :func:`metered_session`.
    """
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
    notify_link_needs_reconnect(link=link)
    return True


@dataclass
class MeteredSession:
    """A client of one link, and the count of requests it made so far."""

    client: CopernicaClient
    tally: RequestTally
    request_log: RequestLogBuffer

    @property
    def requests(self) -> int:
        return self.tally.total

    def flush(self) -> None:
        """Write the counts and the log of the requests made so far (again: nothing to do)."""
        self.tally.flush()
        self.request_log.flush()


@contextmanager
def metered_session(
    link: Link, *, max_retries: int | None = None, flush_at_exit: bool = True
) -> Iterator[MeteredSession]:
    """A client of ``link`` whose every request is budgeted and counted in the ledger.

    - Each HTTP attempt takes a token from the account's :class:`RequestBudget` first (a long
      wait raises ``BudgetExhaustedError``: the caller comes back later).
    - Each attempt is counted; the counts reach the ledger when the session ends, and the
      attempt itself the request log (:mod:`linker.linking.request_log`), in batches. With
      ``flush_at_exit=False`` the caller calls :meth:`MeteredSession.flush` instead, in a
      transaction of its own (the outbox: in the one that records the outcomes).
    - A 429 empties the account's budget for its ``Retry-After``, for every worker.
    - When the auth service rejects the stored token, it is checked once more; if it is still
      rejected the link moves to *needs reconnect* and ``LinkNotUsableError`` is raised.
    """
    account_key = account_key_for(link)
    tally = RequestTally(link, account_key)
    request_log = RequestLogBuffer(link)
    budget = RequestBudget(account_key)

    def on_request(record: RequestRecord) -> None:
        tally.record(record)
        request_log.record(record)

    options: dict[str, object] = {"on_request": on_request, "before_request": budget.take}
    if max_retries is not None:
        options["max_retries"] = max_retries
    client = client_for(link, **options)
    try:
        yield MeteredSession(client=client, tally=tally, request_log=request_log)
    except RateLimitedError as error:
        if error.retry_after:
            budget.hold_off(float(error.retry_after))
        raise
    except TokenRejectedError:
        if not token_still_valid(api_token=link_token(link), endpoints=Endpoints.of(link)):
            link_mark_needs_reconnect(
                link=link,
                reason="Copernica rejected the stored API token (access revoked or token deleted).",
            )
            raise LinkNotUsableError(link) from None
        raise
    finally:
        client.close()
        budget.give_back()
        if flush_at_exit:
            tally.flush()
            request_log.flush()
