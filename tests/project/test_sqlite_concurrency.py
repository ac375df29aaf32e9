"""The embedded default (SQLite) under the demo's processes at once (issue 12, 3).

The demo runs a web server, a sync worker (``-Q default -c 2``), a write-back worker (``-Q
writes -c 1``) and beat on one SQLite file, with the filesystem broker. Here they are real
processes on a SQLite file under a temporary folder, with no ``DATABASE_URL`` or ``REDIS_URL``:
syncs of three links run twice over while a "web" process submits profile changes. Every run
and every change must finish, and no process may log "database is locked".
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from api_client.sandbox.control import SandboxControl
from tests.workers import wait_for

pytestmark = [pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = 3
PROFILES = 1200
CHANGES = 24

# The "web" side, in processes of their own: what the views' services do.
_SEED = """
import json, os
from accounts.models import Agency, Role, Tenant
from accounts.services import membership_add, user_get_or_create
from linker.linking.applications import configured_hosts
from linker.linking.identity import Endpoints, Identity
from linker.linking.links import link_store_token

agency = Agency.objects.create(name="Agency", slug="agency")
user, _ = user_get_or_create(email="admin@example.com")
membership_add(user=user, role=Role.AGENCY_ADMIN, agency=agency)
for number, account in enumerate(json.loads(os.environ["TEST_ACCOUNTS"])):
    tenant = Tenant.objects.create(name=f"Tenant {number}", agency=agency)
    link_store_token(
        tenant=tenant, api_token=account["token"],
        identity=Identity(account_id=account["id"], name=account["id"], company="Company"),
        endpoints=Endpoints.of(configured_hosts()), application=None, user=user, how="test",
    )
"""

_SYNCS = """
import time
from linker.models import Link, SyncMode, SyncRun
from linker.sync.runs import sync_run_request

# Two rounds of a full sync of every link, the second asked for while the first still runs
# (as "Sync now" on the dashboard would), and a third round once they are all done.
for _ in range(2):
    for link in Link.objects.all():
        sync_run_request(link=link, mode=SyncMode.FULL, trigger="test")
    time.sleep(1)
deadline = time.monotonic() + 240
while SyncRun.objects.filter(state__in=["queued", "running"]).exists():
    assert time.monotonic() < deadline, "the first runs did not finish"
    time.sleep(0.5)
for link in Link.objects.all():
    sync_run_request(link=link, mode=SyncMode.INCREMENTAL, trigger="test")
print("syncs requested")
"""

_EDITS = """
import os, time
from accounts.models import User
from linker.models import ProfileChange, RemoteProfile, Link
from linker.profiles.changes import profile_change_submit

user = User.objects.get(email="admin@example.com")
wanted = int(os.environ["TEST_CHANGES"])
deadline = time.monotonic() + 240
submitted = 0
while submitted < wanted:
    assert time.monotonic() < deadline, "no mirrored profiles to edit"
    for link in Link.objects.select_related("tenant"):
        profile = (
            RemoteProfile.objects.filter(link=link, removed_at__isnull=True)
            .order_by("copernica_id")[submitted : submitted + 1].first()
        )
        if profile is None or submitted >= wanted:
            continue
        profile_change_submit(
            user=user, tenant=link.tenant, kind="update", profile=profile,
            fields={"city": f"City {submitted}"},
        )
        submitted += 1
    time.sleep(0.1)
print("changes submitted", ProfileChange.objects.count())
"""


def embedded_env(var_dir: Path, sandbox_url: str) -> dict[str, str]:
    """The demo's environment: no database or Redis URL, so SQLite and the file broker."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "LINKER_", "CELERY_", "COPERNICA_"))
        and key not in ("DATABASE_URL", "REDIS_URL")
    }
    return {
        **env,
        "DJANGO_ENV": "development",
        "DJANGO_DEBUG": "false",
        "LINKER_VAR_DIR": str(var_dir),
        "COPERNICA_SANDBOX_URL": sandbox_url,
        # Small pages and short tasks: many more commits, from more processes, than the demo.
        "LINKER_SYNC_PAGE_SIZE": "50",
        "LINKER_SYNC_PAGES_PER_TASK": "4",
        "LINKER_RETRY_BASE_SECONDS": "0.2",
    }


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process of its own group, its output in ``log``; stopped with TERM (then KILL)."""
    with log.open("wb") as output:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "linker", *args]


def rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
        return connection.execute(sql).fetchall()


def test_syncs_and_profile_changes_at_once_on_sqlite_never_find_the_database_locked(
    sandbox: SandboxControl, tmp_path: Path
) -> None:
    accounts = [
        sandbox.create_account(f"Account {number}", PROFILES, collections=1, subprofiles=800)
        for number in range(ACCOUNTS)
    ]
    env = embedded_env(tmp_path, sandbox.base_url)
    env["TEST_ACCOUNTS"] = json.dumps(
        [{"id": account.account_id, "token": account.api_token} for account in accounts]
    )
    env["TEST_CHANGES"] = str(CHANGES)
    database = tmp_path / "linker.sqlite3"
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "shell", "-c", _SEED)
    logs = tmp_path / "logs"
    logs.mkdir()

    with ExitStack() as stack:
        stack.enter_context(
            process(
                celery("worker", "-Q", "default", "-c", "2", "-n", "sync@%h", "-l", "INFO"),
                env, logs / "worker.log",
            )
        )  # fmt: skip
        stack.enter_context(
            process(
                celery("worker", "-Q", "writes", "-c", "1", "-n", "writes@%h", "-l", "INFO"),
                env, logs / "writer.log",
            )
        )  # fmt: skip
        stack.enter_context(
            process(
                celery("beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule")),
                env, logs / "beat.log",
            )
        )  # fmt: skip
        syncs = stack.enter_context(
            process([sys.executable, "manage.py", "shell", "-c", _SYNCS], env, logs / "syncs.log")
        )
        edits = stack.enter_context(
            process([sys.executable, "manage.py", "shell", "-c", _EDITS], env, logs / "edits.log")
        )
        started = time.monotonic()
        wait_for(lambda: syncs.poll() is not None and edits.poll() is not None, timeout=300,
                 interval=0.5, what="the web side to request its syncs and changes")  # fmt: skip
        assert (syncs.returncode, edits.returncode) == (0, 0), _tail(logs)

        def settled() -> bool:
            active = rows(
                database, "SELECT count(*) FROM linker_syncrun WHERE state IN ('queued','running')"
            )[0][0]
            open_changes = rows(
                database,
                "SELECT count(*) FROM linker_profilechange WHERE state IN ('queued','sending')",
            )[0][0]
            return active == 0 and open_changes == 0

        wait_for(settled, timeout=300, interval=0.5, what="every run and change to finish")
        elapsed = time.monotonic() - started

    runs = rows(database, "SELECT state, count(*) FROM linker_syncrun GROUP BY state")
    changes = rows(database, "SELECT state, count(*) FROM linker_profilechange GROUP BY state")
    # A full and an incremental run per link at least (beat's schedule may add its own).
    assert {state for state, _ in runs} == {"succeeded"}, (runs, _tail(logs))
    assert sum(int(count) for _, count in runs) >= 2 * ACCOUNTS
    assert dict(changes) == {"done": CHANGES}, (changes, _tail(logs))
    assert sandbox.stats()["profiles_updated"] == CHANGES
    locked = [
        f"{log.name}: {line}"
        for log in sorted(logs.iterdir())
        for line in log.read_text(errors="replace").splitlines()
        if "database is locked" in line.lower()
    ]
    assert locked == [], "\n".join(locked[:20])
    assert elapsed < 300


def _tail(logs: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in sorted(logs.iterdir())
    )
