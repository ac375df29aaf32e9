"""Keep secrets out of log lines and exception messages, whatever code wrote them.

Copernica's token endpoint takes the client secret and the authorization code in the query
string, so any URL may carry a secret; API tokens and JWTs can end up in the messages of
third-party code. :func:`redact_url` masks a URL's secret query parameters, :func:`redact`
masks every kind of secret in any text, and :class:`RedactSecretsFilter` applies
:func:`redact` to log records: on httpx's own request log (:func:`install_httpx_log_filter`)
and, as the project's logging filter, on every handler. The filter is the last line of
defence; code that logs is still expected not to log secrets in the first place.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

#: Query parameters whose values never appear in a URL we log or put in a message.
SECRET_PARAMETERS: tuple[str, ...] = ("client_secret", "access_token", "code", "api_token")

#: Keys whose values never appear in a log line, as ``key=value`` or JSON's ``"key": "value"``.
SECRET_KEYS: tuple[str, ...] = (*SECRET_PARAMETERS, "state", "token", "password")

_SECRET_QUERY = re.compile(
    r"(?P<key>(?:^|[?&;])(?:" + "|".join(SECRET_PARAMETERS) + r")=)(?P<value>[^&#\s\"']*)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(?P<key>\b(?:" + "|".join(SECRET_KEYS) + r")(?:=|\"?\s*:\s*\"?))(?P<value>[^&\s\"',;]+)",
    re.IGNORECASE,
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_url(url: object) -> str:
    """``url`` as text with the values of secret query parameters replaced by ``***``.

    Only the parameters in :data:`SECRET_PARAMETERS`; :func:`redact` masks more.
    """
    return _SECRET_QUERY.sub(lambda match: match.group("key") + "***", str(url))


def redact(text: str) -> str:
    """``text`` with every secret it may hold replaced by ``***``.

    Masks JWTs (``eyJ…``), ``Bearer`` credentials, the values of :data:`SECRET_KEYS` written
    as ``key=value`` or ``"key": "value"``, and everything :func:`redact_url` masks.
    Applying it twice changes nothing more.
    """
    text = _JWT.sub("***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _SECRET_VALUE.sub(lambda match: match.group("key") + "***", text)
    return redact_url(text)


class RedactSecretsFilter(logging.Filter):
    """A logging filter that redacts a record's message and its exception text.

    The message is formatted (``record.getMessage()``) and redacted as a whole; when that
    masked anything, ``record.msg`` becomes the redacted message and ``record.args`` is
    cleared. The traceback of ``exc_info`` is formatted and redacted into ``record.exc_text``,
    which formatters print instead of formatting the exception again. No record is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A malformed logging call: logging reports it later together with its
            # arguments, so those must be masked one by one.
            _redact_parts(record)
        else:
            cleaned = redact(message)
            if cleaned != message:
                record.msg = cleaned
                record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _redact_parts(record: logging.LogRecord) -> None:
    record.msg = redact(str(record.msg))
    if isinstance(record.args, Mapping):
        record.args = {key: redact(str(value)) for key, value in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(redact(str(value)) for value in record.args)


_installed = False


def install_httpx_log_filter() -> None:
    """Redact secrets in httpx's ``HTTP Request: GET <url>`` log lines (idempotent)."""
    global _installed
    if _installed:
        return
    logging.getLogger("httpx").addFilter(RedactSecretsFilter())
    _installed = True
