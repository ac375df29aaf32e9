"""Settings for Copernica Linker, read from the environment (django-environ).

With no environment at all the project runs on its embedded defaults (SQLite, a filesystem
broker, a local cache, the Copernica sandbox): that is what ``make demo`` uses. With
``DJANGO_ENV=production`` every secret must come from the environment; a missing one stops
the process with one line naming it. Every variable read here is listed in ``.env.example``.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "test", "production"}:
    sys.exit(f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}.")
PRODUCTION = DJANGO_ENV == "production"

# The local folder for the embedded defaults: the SQLite file, the filesystem broker and the
# demo's generated encryption key. It is ignored by git.
VAR_DIR = Path(env.str("LINKER_VAR_DIR", default=str(BASE_DIR / "var")))
if not PRODUCTION:
    (VAR_DIR / "broker").mkdir(parents=True, exist_ok=True)

REQUIRED_IN_PRODUCTION = (
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_ALLOWED_HOSTS",
    "LINKER_ENCRYPTION_KEYS",
)
if PRODUCTION:
    missing = [name for name in REQUIRED_IN_PRODUCTION if not env.str(name, default="").strip()]
    if missing:
        # SystemExit with a message prints one line and exits 1: no traceback for an operator.
        sys.exit(
            "Copernica Linker cannot start in production: missing required environment "
            f"variable(s): {', '.join(missing)}."
        )

# --- Core -------------------------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=DJANGO_ENV == "development")
if PRODUCTION and DEBUG:
    sys.exit("Copernica Linker cannot start in production with DJANGO_DEBUG on.")

# Outside production a fixed development key is fine: nothing it signs outlives the demo.
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="" if PRODUCTION else "development-only-key-not-for-production-0123456789abcdef",
)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Before accounts: its sign-in receivers read what axes' receivers set on the request.
    "axes",
    # Its system checks: the cache that holds the throttles' counts must be a shared one.
    "django_ratelimit",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
    "linker",
    # The JSON API (/api/v1/, linker.api), its OpenAPI document and self-hosted reference page.
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "linker.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # The request behind every security-log entry written while it runs (the address).
    "accounts.security_log.SecurityLogRequestMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "linker.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Ends idle and too-old sessions (after messages: it tells the person why).
    "accounts.sessions.SessionLifetimeMiddleware",
    # Holds people who owe a second factor; after OTPMiddleware, which sets is_verified().
    "accounts.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A throttled request (django-ratelimit) gets RATELIMIT_VIEW's page, not a bare 403.
    "django_ratelimit.middleware.RatelimitMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "linker.urls"
WSGI_APPLICATION = "linker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'linker.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default is shared by the web server, two workers and beat. WAL lets readers
    # run beside the one writer; IMMEDIATE takes the write lock when a transaction begins, so
    # SQLite can wait for it (the busy timeout) instead of failing a read-then-write
    # transaction with "database is locked" at once.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, broker, locks --------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-ratelimit lists the cache backends it knows: Django's own RedisCache is not among them
# (W001), though it is shared by every process and increments atomically (Redis INCR). Without
# Redis (the embedded demo) the cache is local memory (E003: not shared between processes);
# there the one web process (runserver) serves every throttled page, so its memory is shared
# by all of them. Production always has Redis (REDIS_URL is required).
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
if not REDIS_URL:
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# --- Auth -------------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out sign-in before a password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Two-factor authentication (django-otp): the issuer shown in authenticator apps, and how long
# "remember this device" skips the code step (0 turns the option off).
OTP_TOTP_ISSUER = "Copernica Linker"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LINKER_2FA_REMEMBER_DAYS = env.int("LINKER_2FA_REMEMBER_DAYS", default=30)
# What seals the authenticator apps' secrets (accounts.authenticator): the linker's key ring.
ACCOUNTS_SECRET_BOX = "linker.platform.vault.keyring"
if DJANGO_ENV == "test":
    # Hashing with PBKDF2's full cost in every factory call would dominate the suite's time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Sign-in throttling, password reset, sessions (accounts.sign_in, .throttling, .sessions) ---

# Failed sign-ins (django-axes, counted in the database, so the embedded SQLite setup has them
# too) per account and, separately, per client address; at the limit both are refused, the
# right password included, until the cool-off has passed since the last failure.
LINKER_LOGIN_FAILURE_LIMIT = env.int("LINKER_LOGIN_FAILURE_LIMIT", default=5)
LINKER_LOGIN_COOLOFF_MINUTES = env.int("LINKER_LOGIN_COOLOFF_MINUTES", default=15)
AXES_FAILURE_LIMIT = LINKER_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LINKER_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The login form's field is named "username" and holds the email address.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.sign_in.login_username"
# The address as the security log sees it (REMOTE_ADDR; a client cannot choose its own).
AXES_CLIENT_IP_CALLABLE = "accounts.security_log.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.sign_in.lockout_response"
# Successful sign-ins are in the security log already. Failures are not reset by a success:
# an attacker with an account of their own could otherwise sign in to clear the count of
# their address between guesses at someone else's password.
AXES_DISABLE_ACCESS_LOG = True
AXES_RESET_ON_SUCCESS = False
# No start-up banner on stderr (a management command's error stays one line).
AXES_VERBOSE = False

# django-ratelimit rates ("count/period", period s, m, h or d, e.g. 5/h or 30/10m), counted in
# the shared cache: a password reset request per address and per email; a page opened with a
# secret link (connect link, invitation, reset link) per address; a pasted API token (each one
# is tried at Copernica) per user and per address.
LINKER_PASSWORD_RESET_RATE = env.str("LINKER_PASSWORD_RESET_RATE", default="5/h")
LINKER_TOKEN_LINK_RATE = env.str("LINKER_TOKEN_LINK_RATE", default="30/h")
LINKER_API_TOKEN_RATE = env.str("LINKER_API_TOKEN_RATE", default="10/h")
for _name, _rate in {
    "LINKER_PASSWORD_RESET_RATE": LINKER_PASSWORD_RESET_RATE,
    "LINKER_TOKEN_LINK_RATE": LINKER_TOKEN_LINK_RATE,
    "LINKER_API_TOKEN_RATE": LINKER_API_TOKEN_RATE,
}.items():
    if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", _rate):
        sys.exit(f"{_name} must look like 5/h or 30/10m, not {_rate!r}.")
RATELIMIT_USE_CACHE = "default"
RATELIMIT_VIEW = "accounts.throttling.throttled_view"
# Minutes an emailed password reset link works (once: a new password voids it).
LINKER_PASSWORD_RESET_MINUTES = env.int("LINKER_PASSWORD_RESET_MINUTES", default=60)

# A session ends after this long without a request, and this long after signing in at most.
LINKER_SESSION_IDLE_MINUTES = env.int("LINKER_SESSION_IDLE_MINUTES", default=60)
LINKER_SESSION_MAX_HOURS = env.int("LINKER_SESSION_MAX_HOURS", default=12)
for _name, _count in {
    "LINKER_LOGIN_FAILURE_LIMIT": LINKER_LOGIN_FAILURE_LIMIT,
    "LINKER_LOGIN_COOLOFF_MINUTES": LINKER_LOGIN_COOLOFF_MINUTES,
    "LINKER_PASSWORD_RESET_MINUTES": LINKER_PASSWORD_RESET_MINUTES,
    "LINKER_SESSION_IDLE_MINUTES": LINKER_SESSION_IDLE_MINUTES,
    "LINKER_SESSION_MAX_HOURS": LINKER_SESSION_MAX_HOURS,
}.items():
    if _count < 1:
        sys.exit(f"{_name} must be at least 1, not {_count}.")
SESSION_COOKIE_AGE = LINKER_SESSION_MAX_HOURS * 3600

# --- The JSON API (linker.api) ---------------------------------------------------------------

# Requests per API key ("count/period", period second, minute, hour or day), counted in the
# shared cache; past it the API answers 429 with Retry-After.
LINKER_API_RATE = "600/minute"
REST_FRAMEWORK = {
    # API keys only (Authorization: Bearer): no session, so no CSRF to think about.
    "DEFAULT_AUTHENTICATION_CLASSES": ["linker.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["linker.api.auth.HasScope"],
    # Per key, at LINKER_API_RATE.
    "DEFAULT_THROTTLE_CLASSES": ["linker.api.auth.ApiKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": None,
    # OPTIONS answers 405: the OpenAPI document describes every operation.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "linker.api.schema.ApiAutoSchema",
    # Every error as RFC 9457 problem+json.
    "EXCEPTION_HANDLER": "linker.api.errors.problem_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Copernica Linker API",
    "DESCRIPTION": (
        "Everything the pages do, for an agency's own systems. Send an API key of your agency "
        "as `Authorization: Bearer <key>`; errors are RFC 9457 `application/problem+json`."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the sidecar package, served by us: no CDN, the strict CSP stays.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the document's URL to swagger.io (and break the CSP).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "linker.api.schema.problem_responses",
    ],
    # Several models have a "state" and a "kind": one named enum each.
    "ENUM_NAME_OVERRIDES": {
        "LinkStateEnum": "linker.models.links.LinkState",
        "LinkEventKindEnum": "linker.models.links.LinkEvent.Kind",
        "SyncStateEnum": "linker.models.runs.SyncState",
        "ChangeKindEnum": "linker.models.outbox.ProfileChange.Kind",
        "ChangeStateEnum": "linker.models.outbox.ProfileChange.State",
        # Endpoints' event types and a delivery's event type: one enum.
        "WebhookEventTypeEnum": "linker.models.webhooks.WebhookEventType",
    },
}

# --- Internationalisation ---------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production whitenoise serves straight from the finders; no collectstatic needed.
STATIC_ROOT = BASE_DIR / "staticfiles" if PRODUCTION else VAR_DIR / "static"
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security headers and cookies -------------------------------------------------------------

# Lax, not Strict: the browser must send the session cookie when Copernica's consent page
# redirects back to our callback, or the callback could not match the state to the session.
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # gunicorn sits behind a TLS-terminating proxy that sets this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

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

# --- Secrets at rest --------------------------------------------------------------------------

# Comma-separated base64 AES-256 keys; the first encrypts, all decrypt. Separate from
# SECRET_KEY so that rotating one does not touch the other. Outside production a key is
# generated once into VAR_DIR (see linker.platform.vault).
LINKER_ENCRYPTION_KEYS = env.list("LINKER_ENCRYPTION_KEYS", default=[])
if LINKER_ENCRYPTION_KEYS:
    # Imported only when keys are configured, to fail at start with one line; the vault needs
    # no Django, so importing it from the settings is safe.
    from linker.platform.vault import KeyRing, VaultConfigurationError

    try:
        KeyRing.parse(LINKER_ENCRYPTION_KEYS)
    except VaultConfigurationError as exc:
        sys.exit(f"Copernica Linker cannot start: {exc}")
LINKER_ENCRYPTION_KEY_FILE = VAR_DIR / "encryption.key"

# --- Celery -----------------------------------------------------------------------------------

# The broker's visibility timeout bounds how long an unacknowledged task may run before Redis
# hands it to another worker; every time limit below stays well inside it (reliability.md 17-25).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = (
    {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
    if REDIS_URL
    else {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        # Kombu's default is ./control, in whatever folder the process started.
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
# Three queues, a worker (or more) each: syncs on "default" (sync steps, the beat's sync
# housekeeping, link checks), write-back on "writes" and emails on "notifications", so that a
# user's change or a notice never waits behind a backlog of long sync steps.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES: dict[str, dict[str, str]] = {
    "linker.profile_change_send": {"queue": "writes"},
    "linker.profile_changes_release": {"queue": "writes"},
    "linker.profile_changes_relay": {"queue": "writes"},
    "linker.notifications_scan": {"queue": "notifications"},
    "linker.notifications_digest": {"queue": "notifications"},
    "linker.webhook_delivery_send": {"queue": "notifications"},
    "linker.webhook_deliveries_relay": {"queue": "notifications"},
}
#: Every queue a deployment must run a worker for (the metrics report each one's depth).
LINKER_CELERY_QUEUES = ("default", "writes", "notifications")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "link-verify-daily": {"task": "linker.link_verify_due", "schedule": 24 * 3600.0},
    "request-log-prune-daily": {"task": "linker.request_log_prune", "schedule": 24 * 3600.0},
    "notifications-scan": {"task": "linker.notifications_scan", "schedule": 60.0},
    "notifications-digest": {"task": "linker.notifications_digest", "schedule": 3600.0},
    "sync-schedule-due": {"task": "linker.sync_schedule_due", "schedule": 60.0},
    "sync-runs-reconcile": {"task": "linker.sync_runs_reconcile", "schedule": 60.0},
    "profile-changes-relay": {"task": "linker.profile_changes_relay", "schedule": 60.0},
    "inbound-webhooks-check-daily": {
        "task": "linker.inbound_webhooks_check_due",
        "schedule": 24 * 3600.0,
    },
    "inbound-gaps-tally": {"task": "linker.inbound_gaps_tally", "schedule": 300.0},
    "inbound-events-relay": {"task": "linker.inbound_events_relay", "schedule": 60.0},
    "inbound-events-prune-daily": {
        "task": "linker.inbound_events_prune",
        "schedule": 24 * 3600.0,
    },
    "webhook-deliveries-relay": {"task": "linker.webhook_deliveries_relay", "schedule": 60.0},
}
if CELERY_TASK_TIME_LIMIT >= CELERY_VISIBILITY_TIMEOUT:
    sys.exit("CELERY_TASK_TIME_LIMIT must be below CELERY_VISIBILITY_TIMEOUT.")

# --- Sync and write-back (linker.sync, linker.profiles, linker.platform.ratelimit) ------------

# A sync task does this many pages or seconds, then re-enqueues itself (well inside the
# visibility timeout, and other accounts get a turn in between).
LINKER_SYNC_PAGES_PER_TASK = env.int("LINKER_SYNC_PAGES_PER_TASK", default=100)
# Profiles per page: Copernica's maximum; smaller only for tests that need many pages.
LINKER_SYNC_PAGE_SIZE = env.int("LINKER_SYNC_PAGE_SIZE", default=1000)
LINKER_SYNC_SECONDS_PER_TASK = env.float("LINKER_SYNC_SECONDS_PER_TASK", default=60.0)
# A run whose heartbeat is older than this lost its worker and is taken over.
LINKER_SYNC_STALE_SECONDS = env.int("LINKER_SYNC_STALE_SECONDS", default=180)
# Attempts in a row without progress (errors or lost workers) before a run is failed.
LINKER_SYNC_MAX_ATTEMPTS = env.int("LINKER_SYNC_MAX_ATTEMPTS", default=5)
LINKER_SYNC_CLIENT_RETRIES = env.int("LINKER_SYNC_CLIENT_RETRIES", default=3)
LINKER_RETRY_BASE_SECONDS = env.float("LINKER_RETRY_BASE_SECONDS", default=2.0)
LINKER_WRITE_MAX_ATTEMPTS = env.int("LINKER_WRITE_MAX_ATTEMPTS", default=8)
LINKER_WRITE_STALE_SECONDS = env.int("LINKER_WRITE_STALE_SECONDS", default=120)
# The request budget per Copernica account, shared by every worker.
LINKER_ACCOUNT_REQUESTS_PER_SECOND = env.float("LINKER_ACCOUNT_REQUESTS_PER_SECOND", default=50.0)
LINKER_ACCOUNT_REQUEST_BURST = env.float("LINKER_ACCOUNT_REQUEST_BURST", default=100.0)
if LINKER_SYNC_SECONDS_PER_TASK + 60 >= CELERY_TASK_SOFT_TIME_LIMIT:
    sys.exit("LINKER_SYNC_SECONDS_PER_TASK must stay well below CELERY_TASK_TIME_LIMIT.")

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
