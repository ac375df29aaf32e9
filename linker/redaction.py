"""Keeps secrets out of log lines, whatever code wrote them.

The token endpoint URL carries the client secret and the OAuth code; API tokens and JWTs can
end up in exception messages of third-party code. This filter is the last line of defence on
every handler; the code that logs is still expected not to log secrets in the first place.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(
    r"(?P<key>\b(?:client_secret|access_token|code|state|api_token|token|password)"
    r"(?:=|\"?\s*:\s*\"?))(?P<value>[^&\s\"',;]+)",
    re.IGNORECASE,
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Return ``text`` with query-string secrets, bearer tokens and JWTs replaced by ``***``."""
    text = _JWT.sub("***", text)
    text = _BEARER.sub(r"\1***", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m.group('key')}***", text)


class RedactSecretsFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and any exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
