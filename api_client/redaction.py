"""Keep secrets out of URLs that end up in log lines and exception messages.

Copernica's token endpoint takes the client secret and the authorization code in the query
string, so any URL may carry a secret. :func:`redact_url` masks them, and
:func:`install_httpx_log_filter` applies it to httpx's own ``INFO`` request log.
"""

from __future__ import annotations

import logging
import re

#: Query parameters whose values never appear in a log line or a message.
SECRET_PARAMETERS: tuple[str, ...] = ("client_secret", "access_token", "code", "api_token")

_SECRET_QUERY = re.compile(
    r"(?P<key>(?:^|[?&;])(?:" + "|".join(SECRET_PARAMETERS) + r")=)(?P<value>[^&#\s\"']*)",
    re.IGNORECASE,
)


def redact_url(url: object) -> str:
    """``url`` as text with the values of secret query parameters replaced by ``***``."""
    return _SECRET_QUERY.sub(lambda match: match.group("key") + "***", str(url))


class RedactSecretsFilter(logging.Filter):
    """A logging filter that redacts secret query parameters in a record's arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(arg) if _may_hold_url(arg) else arg for arg in record.args
            )
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact_url(record.msg)
        return True


def _may_hold_url(value: object) -> bool:
    return not isinstance(value, int | float) and "=" in str(value)


_installed = False


def install_httpx_log_filter() -> None:
    """Redact secrets in httpx's ``HTTP Request: GET <url>`` log lines (idempotent)."""
    global _installed
    if _installed:
        return
    logging.getLogger("httpx").addFilter(RedactSecretsFilter())
    _installed = True
