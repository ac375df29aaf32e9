"""The SSRF guard: which URLs and addresses a webhook may be sent to (reliability.md case 52).

An agency types the URL, and our workers post to it from inside our network, so a URL must
not reach the loopback interface, a private or link-local network (cloud metadata services
live at 169.254.169.254 and fd00:ec2::254), or anything else that is not globally routable.
The check runs when an endpoint is saved (a clear form error) and again for every batch of
sends (``linker.outbound.sending``), on the addresses the name resolves to *then*: a DNS answer
can change after the check. The batch then connects to the very address it checked (the name
still goes in the ``Host`` header and the TLS server name), so a second DNS answer cannot slip
in between check and connect, and every connection of the batch, kept alive or opened again,
goes to that checked address. Redirects
are never followed. ``LINKER_WEBHOOKS_ALLOW_PRIVATE`` lifts the address rule, for the tests
and the demo, whose receivers run on this machine.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from linker.outbound.errors import WebhookUrlError

URL_MAX = 500
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """Where a webhook goes: the URL as written, its host, and the checked address to dial."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    @property
    def dial_url(self) -> str:
        """The URL with the checked address in place of the name."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{host}:{self.port}{path}{query}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def address_refused(address: IpAddress) -> bool:
    """Whether ``address`` is outside the public internet (loopback, private, link-local,
    metadata, multicast, reserved, …), IPv4-mapped IPv6 addresses judged as their IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _allow_private() -> bool:
    return bool(settings.LINKER_WEBHOOKS_ALLOW_PRIVATE)


def webhook_url_clean(url: str) -> str:
    """``url`` stripped, if it is one we may send to; ``WebhookUrlError`` otherwise.

    Resolves the name (unless private addresses are allowed) so that a URL on a private
    address is refused when it is saved, not only at the first send.
    """
    url = (url or "").strip()
    if not url:
        raise WebhookUrlError("Enter the URL that should receive the events.")
    if len(url) > URL_MAX:
        raise WebhookUrlError(f"At most {URL_MAX} characters.")
    host, port, _scheme = _parts(url)
    if not _allow_private():
        _resolve_checked(host, port)
    return url


def _parts(url: str) -> tuple[str, int, str]:
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise WebhookUrlError("The URL may not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlError("This is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookUrlError("Use an https:// URL.")
    if scheme != "https" and settings.PRODUCTION:
        raise WebhookUrlError("Use an https:// URL: events are sent only over TLS.")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("Leave credentials out of the URL; verify the signature instead.")
    if parts.fragment:
        raise WebhookUrlError("Leave the #fragment out of the URL.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookUrlError("The URL has no host name.")
    try:
        host.encode("idna")
    except UnicodeError:
        raise WebhookUrlError("The URL's host name is not valid.") from None
    return host, port or (443 if scheme == "https" else 80), scheme


def _resolve_checked(host: str, port: int) -> str:
    """The first address ``host`` resolves to, if every address it resolves to is allowed."""
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise WebhookUrlError(f"The host name {host!r} does not resolve.") from None
        found = []
        for answer in answers:
            text = str(answer[4][0]).split("%", 1)[0]  # drop an IPv6 zone
            found.append(ipaddress.ip_address(text))
        if not found:
            raise WebhookUrlError(f"The host name {host!r} does not resolve.")
    if not _allow_private():
        # One refused answer refuses the name: which one we would dial is up to chance.
        refused = [a for a in found if address_refused(a)]
        if refused:
            where = f"{host} is" if literal is not None else f"{host} resolves to {refused[0]},"
            raise WebhookUrlError(
                f"{where} an address inside a private network; webhooks go only to public "
                "addresses."
            )
    return str(found[0])


def webhook_target_resolve(url: str) -> Target:
    """The checked target of ``url``, resolved now (at send time); ``WebhookUrlError`` if
    the URL, or any address its name resolves to now, is refused."""
    host, port, scheme = _parts(url)
    address = _resolve_checked(host, port)
    return Target(url=url, scheme=scheme, host=host, port=port, address=address)
