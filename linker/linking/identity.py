"""Which Copernica account a token belongs to, and the hosts a link talks to.

A *probe* is a client that shares no cached JWT: it proves a token works right now (before a
token is stored, and as the re-check before a link is given up as rejected).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from api_client import CopernicaClient, CopernicaError, TokenRejectedError
from linker.linking.errors import LinkingError

logger = logging.getLogger(__name__)


class HasHosts(Protocol):
    @property
    def auth_url(self) -> str: ...

    @property
    def api_url(self) -> str: ...

    @property
    def rest_url(self) -> str: ...


@dataclass(frozen=True)
class Endpoints:
    auth_url: str
    api_url: str
    rest_url: str

    @classmethod
    def of(cls, source: HasHosts) -> Endpoints:
        """The hosts a link made through ``source`` (an application, or hosts) talks to."""
        return cls(auth_url=source.auth_url, api_url=source.api_url, rest_url=source.rest_url)


@dataclass(frozen=True)
class Identity:
    """What ``/v4/identity`` says about the linked Copernica account."""

    account_id: str
    name: str
    company: str

    @classmethod
    def from_api(cls, document: dict[str, object]) -> Identity:
        account_id = str(document.get("id") or document.get("ID") or "").strip()
        if not account_id:
            raise LinkingError("Copernica did not say which account was linked. Please try again.")
        return cls(
            account_id=account_id,
            name=str(document.get("name") or "")[:300],
            company=str(document.get("company") or "")[:300],
        )


def probe_client(*, api_token: str, endpoints: Endpoints) -> CopernicaClient:
    """A client that bypasses every JWT cache and retries once: for one question, then closed."""
    return CopernicaClient(
        api_token,
        api_url=endpoints.api_url or settings.COPERNICA_API_URL,
        auth_url=endpoints.auth_url or settings.COPERNICA_AUTH_URL,
        timeout=settings.COPERNICA_TIMEOUT,
        max_retries=1,
    )


def identity_check(*, api_token: str, endpoints: Endpoints) -> Identity:
    """Exchange the token for a JWT and ask ``/identity``: proof the token works."""
    client = probe_client(api_token=api_token, endpoints=endpoints)
    try:
        return Identity.from_api(client.identity())
    except TokenRejectedError:
        raise LinkingError("Copernica did not accept this API token.") from None
    except CopernicaError as exc:
        logger.warning("Identity check failed: %s", exc)
        raise LinkingError(
            "Copernica could not confirm the account right now. Nothing was stored; try again."
        ) from None
    finally:
        client.close()


def token_still_valid(*, api_token: str, endpoints: Endpoints) -> bool:
    """Ask the auth service once more, bypassing every cache (the re-check before giving up)."""
    client = probe_client(api_token=api_token, endpoints=endpoints)
    try:
        client.identity()
    except TokenRejectedError:
        return False
    finally:
        client.close()
    return True
