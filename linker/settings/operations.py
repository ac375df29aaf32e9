"""What an operator watches and receives: metrics, email and logging."""

from __future__ import annotations

from linker.settings.base import PRODUCTION, VAR_DIR, env

# --- Metrics (linker.health.metrics) ----------------------------------------------------------

# The bearer token Prometheus sends to /metrics; without one the endpoint does not exist (404).
LINKER_METRICS_TOKEN = env.str("LINKER_METRICS_TOKEN", default="")

# --- Email ------------------------------------------------------------------------------------

EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.smtp.EmailBackend"
        if PRODUCTION
        else "django.core.mail.backends.console.EmailBackend"
    ),
)
# Where the file backend (django.core.mail.backends.filebased) writes one file per email: the
# demo uses it so that the web process and the workers put every email in one place.
EMAIL_FILE_PATH = env.str("DJANGO_EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="linker@localhost")

# --- Logging ----------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "api_client.redaction.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # httpx logs every request URL at INFO; the token URL carries the client secret.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
