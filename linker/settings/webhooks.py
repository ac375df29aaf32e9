"""Webhooks out to agencies (``linker.outbound``) and in from Copernica (``linker.inbound``)."""

from __future__ import annotations

import sys

from linker.settings.base import DJANGO_ENV, PRODUCTION, env

# --- Outbound webhooks (linker.outbound) -----------------------------------------------------

# Deliver to loopback and private addresses too (the SSRF guard's address rule lifted): for the
# tests and the demo, whose receivers run on this machine. Never in production.
LINKER_WEBHOOKS_ALLOW_PRIVATE = env.bool(
    "LINKER_WEBHOOKS_ALLOW_PRIVATE", default=DJANGO_ENV in ("test", "development")
)
if PRODUCTION and LINKER_WEBHOOKS_ALLOW_PRIVATE:
    sys.exit("LINKER_WEBHOOKS_ALLOW_PRIVATE must be off in production.")
# Seconds a receiver has to answer one delivery (connecting included).
LINKER_WEBHOOKS_TIMEOUT_SECONDS = env.float("LINKER_WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
# The first retry's wait; each next one doubles (with jitter, at most an hour) for 24 h.
LINKER_WEBHOOKS_RETRY_BASE_SECONDS = env.float("LINKER_WEBHOOKS_RETRY_BASE_SECONDS", default=5.0)

# --- Copernica's webhooks (linker.inbound) ---------------------------------------------------

# Register create/update/delete webhooks on link (off in the test settings: only the tests of
# linker.inbound want Copernica calling back, and they switch it on).
LINKER_WEBHOOKS_REGISTER = env.bool("LINKER_WEBHOOKS_REGISTER", default=DJANGO_ENV != "test")
# Hosts a signature's keyId may name: Copernica's own subdomains; the demo adds the sandbox's
# host:port (never in production unless someone means it).
LINKER_WEBHOOK_KEY_HOSTS = env.list("LINKER_WEBHOOK_KEY_HOSTS", default=["*.copernica.com"])
# How far a delivery's Date may be from now, in seconds, either way (replays outside it: 401).
LINKER_WEBHOOK_MAX_AGE = env.int("LINKER_WEBHOOK_MAX_AGE", default=300)
# Where Copernica's DNS key records are looked up (``host`` or ``host:port``); empty: the system's
# resolvers.
LINKER_WEBHOOK_DNS_NAMESERVERS = env.list("LINKER_WEBHOOK_DNS_NAMESERVERS", default=[])
# With healthy webhooks, incremental runs only check for gaps, at most this often.
LINKER_WEBHOOK_GAP_CHECK_MINUTES = env.int("LINKER_WEBHOOK_GAP_CHECK_MINUTES", default=60)
