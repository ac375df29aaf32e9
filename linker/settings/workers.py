"""Celery and the work it runs: queues, time limits, syncs and write-back."""

from __future__ import annotations

import sys

from linker.settings.base import REDIS_URL, VAR_DIR, env

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
# Celery's Django fixup closes the database connection before and after every task unless
# this is set, and then only every this many tasks: the connection's age and health decide
# instead (CONN_MAX_AGE, CONN_HEALTH_CHECKS; checked around every task by linker.celery).
CELERY_DB_REUSE_MAX = 10_000
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
# How long one write-back task goes on sending before it leaves the rest of its batch to the
# next task: far below LINKER_WRITE_STALE_SECONDS, after which the relay takes a change still
# *sending* for a lost one.
LINKER_WRITE_BATCH_SECONDS = env.float("LINKER_WRITE_BATCH_SECONDS", default=2.0)
# The request budget per Copernica account, shared by every worker.
LINKER_ACCOUNT_REQUESTS_PER_SECOND = env.float("LINKER_ACCOUNT_REQUESTS_PER_SECOND", default=50.0)
LINKER_ACCOUNT_REQUEST_BURST = env.float("LINKER_ACCOUNT_REQUEST_BURST", default=100.0)
if LINKER_SYNC_SECONDS_PER_TASK + 60 >= CELERY_TASK_SOFT_TIME_LIMIT:
    sys.exit("LINKER_SYNC_SECONDS_PER_TASK must stay well below CELERY_TASK_TIME_LIMIT.")
