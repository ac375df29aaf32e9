"""One TLS context for every client of the process.

Building an ``ssl.SSLContext`` loads the whole CA bundle (about 18 ms); a worker that makes a
client per task would spend more time on that than on its request. The context is read-only once
built and safe to share between threads.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's bundle), built once."""
    return httpx.create_ssl_context()
