"""Copernica's public signing keys, found by ``keyId`` and cached.

A ``keyId`` names one key for good (Copernica rotates by publishing a new record under a new
name), so a key is fetched on a cache miss only and kept for :data:`KEY_CACHE_SECONDS`: an
unknown ``keyId`` (a rotation) is fetched at once, a known one costs no request. Absent keys are
not cached, so a key published a moment late is found on the next delivery.

Where the record lives: the sandbox publishes it at the URL its ``keyId`` is
(:class:`api_client.HttpKeyLookup`); real Copernica names a DNS TXT record
(``keyId="one._domainkey.copernica.com"`` in its callbacks-security page), read with dnspython
(:func:`dns_key_record`) from the system's resolvers, or from ``LINKER_WEBHOOK_DNS_NAMESERVERS``
(``host`` or ``host:port``) when set. The verifier has checked the name against
``LINKER_WEBHOOK_KEY_HOSTS`` before any lookup, so a sender cannot make us query a name of its
choosing.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import dns.exception
import dns.resolver
from django.conf import settings
from django.core.cache import cache

from api_client import HttpKeyLookup

logger = logging.getLogger(__name__)

#: Keys are rotated monthly; a day keeps every delivery of a day to one fetch per process group.
KEY_CACHE_SECONDS = 24 * 3600
KEY_FETCH_TIMEOUT = 5.0

_http_lookup: HttpKeyLookup | None = None
_http_lookup_guard = threading.Lock()


def _http() -> HttpKeyLookup:
    global _http_lookup
    with _http_lookup_guard:
        if _http_lookup is None:
            _http_lookup = HttpKeyLookup(timeout=KEY_FETCH_TIMEOUT)
        return _http_lookup


def key_cache_key(key_id: str) -> str:
    # Hashed: a keyId is chosen by the sender and may be long or odd.
    return "inbound:key:" + hashlib.sha256(key_id.encode()).hexdigest()


def _resolver() -> dns.resolver.Resolver:
    servers = list(getattr(settings, "LINKER_WEBHOOK_DNS_NAMESERVERS", []) or [])
    if not servers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = []
        for server in servers:
            host, _, port = str(server).partition(":")
            resolver.nameservers.append(host)
            if port.isascii() and port.isdigit():
                resolver.port = int(port)
    resolver.lifetime = KEY_FETCH_TIMEOUT
    return resolver


def dns_key_record(key_id: str) -> str | None:
    """The TXT record a DNS ``keyId`` names (its strings joined, as DKIM splits long keys), or
    ``None`` when there is none or DNS does not answer in time."""
    try:
        answer = _resolver().resolve(key_id.rstrip(".") + ".", "TXT")
    except (dns.exception.DNSException, ValueError) as exc:
        logger.warning("No webhook key found in DNS for %s: %s", key_id[:200], type(exc).__name__)
        return None
    for record in answer:
        text = b"".join(record.strings).decode("ascii", "replace")
        if "p=" in text:
            return text
    return None


def cached_key_lookup(key_id: str) -> str | None:
    """The :class:`api_client.KeyLookup` of the receiver (called for allowed hosts only)."""
    name = key_cache_key(key_id)
    record = cache.get(name)
    if isinstance(record, str):
        return record
    if key_id.startswith(("http://", "https://")):
        found = _http()(key_id)
    else:
        found = dns_key_record(key_id)
    if found is not None:
        cache.set(name, found, timeout=KEY_CACHE_SECONDS)
    return found
