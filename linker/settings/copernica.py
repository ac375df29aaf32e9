"""Where Copernica answers (the sandbox unless configured), this deployment's own address and
the Content-Security-Policy that follows from both."""

from __future__ import annotations

from urllib.parse import urlsplit

from linker.settings.base import PRODUCTION, env

# --- Copernica --------------------------------------------------------------------------------

# Where the sandbox answers when no real Copernica hosts are configured (``make demo``).
COPERNICA_SANDBOX_URL = env.str("COPERNICA_SANDBOX_URL", default="http://127.0.0.1:8765")
_sandbox = COPERNICA_SANDBOX_URL.rstrip("/")
COPERNICA_AUTHORIZE_URL = env.str("COPERNICA_AUTHORIZE_URL", default=f"{_sandbox}/en/authorize")
COPERNICA_TOKEN_URL = env.str("COPERNICA_TOKEN_URL", default=f"{_sandbox}/v4/token")
COPERNICA_AUTH_URL = env.str("COPERNICA_AUTH_URL", default=f"{_sandbox}/authenticate")
COPERNICA_API_URL = env.str("COPERNICA_API_URL", default=f"{_sandbox}/v4")
COPERNICA_REST_URL = env.str("COPERNICA_REST_URL", default=f"{_sandbox}/rest/v4")
COPERNICA_TIMEOUT = env.float("COPERNICA_TIMEOUT", default=30.0)

# The address people reach this deployment at, for links in emails sent outside a request.
LINKER_BASE_URL = env.str("LINKER_BASE_URL", default="" if PRODUCTION else "http://127.0.0.1:8000")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# The Connect form posts to us and we redirect to Copernica's consent page; browsers apply the
# CSP form-action directive to that redirect, so Copernica's origin must be allowed there.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        f"form-action 'self' {_origin(COPERNICA_AUTHORIZE_URL)}",
    ]
)
