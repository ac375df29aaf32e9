"""What the sync benches share (``sync_bench``, ``worker_bench``, ``subprofile_bench``,
``reconcile_bench``, ``run_profile``): their database, the sandbox subprocess, CPU meters, and
:class:`Bench`, which makes linked sandbox accounts, runs ``bench/sync_bench.py``'s child
processes and collects the rows of the table printed at the end.

Imported by benches that have put the project's root on ``sys.path``; the project's own modules
are imported inside the functions, once Django is set up.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench.database import bench_django_setup

ROOT = Path(__file__).resolve().parents[1]
#: The script whose ``--child`` modes :meth:`Bench.child` runs unless told another.
CHILD_SCRIPT = ROOT / "bench" / "sync_bench.py"

#: The database the bench replaces ``DATABASE_URL``'s with (``SYNC_BENCH_DB`` to use another, e.g.
#: when two people bench on one server); child processes inherit it through the environment.
BENCH_DB = os.environ.get("SYNC_BENCH_DB", "linker_syncbench")
BENCH_MAIL = "bench.invalid"


def setup_django(*, migrate: bool = False) -> None:
    bench_django_setup(BENCH_DB, migrate=migrate)


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_client.sandbox", "--port", "0", "--seed", "6"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"(http://\S+)", proc.stdout.readline())
    if match is None:
        raise SystemExit("The sandbox did not start.")
    return proc, match.group(1)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_cpu(pid: int) -> float | None:
    """CPU seconds a process of this machine has used (user + system), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used between ``start()`` and ``stop()`` by this process (all its threads)
    and by its PostgreSQL backend (when the server runs on this machine): on a loaded machine
    the wall-clock ratios move from run to run, these much less."""

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (self.backend,) = cursor.fetchone()
        self._started = self._read()

    def _read(self) -> tuple[float, float | None]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime, process_cpu(self.backend)

    def start(self) -> None:
        self._started = self._read()

    def stop(self) -> dict[str, float | None]:
        python, postgres = self._read()
        python_before, postgres_before = self._started
        used: dict[str, float | None] = {"python": python - python_before, "postgres": None}
        if postgres is not None and postgres_before is not None:
            used["postgres"] = postgres - postgres_before
        return used


def cpu_text(cpu: dict[str, float | None]) -> str:
    """``python 2.1 s, postgres 2.6 s, sandbox 0.7 s`` (what was measured)."""
    return ", ".join(f"{name} {value:.1f} s" for name, value in cpu.items() if value is not None)


#: The engine and its floors alternate this many times and their medians are compared: on a loaded
#: machine one pair of runs swings by a third either way.
FULL_ROUNDS = 3


def warm_up(link: Any) -> None:
    """What a worker's process did once, before its first step, done outside the timing.

    - The HTTP client's modules: httpx imports most of them when the process makes its first
      client (0.08 to 0.18 s here).
    - Celery's messaging: a run's end publishes a task (the search fill; a first sync's
      reconcile phase the ANALYZE), and a fresh process first imports kombu's transport and
      Celery's task, result and event modules and connects to the broker (0.11 to 0.6 s, the
      modules compiled anew in every child without bytecode files). A liveness ping is
      published for that, what a worker's probe sends (harmless without a worker).
    - The heap frozen, as a worker's process freezes it when it starts
      (``linker.celery.heap_freeze``): else the run's full collections walk the set-up's
      objects too (0.1 to 0.2 s of a 50k run).

    A fresh child paid all of it inside the engine's time and none of it in floor (b)'s.
    """
    from linker.celery import heap_freeze
    from linker.linking.client import client_for
    from linker.platform.delivery import Task, publish

    client_for(link).close()
    publish(Task.WORKER_PING, "bench-warm-up")
    heap_freeze()


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def truncate_mirror() -> None:
    from django.db import connection

    from linker.models import RemoteProfile

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {RemoteProfile._meta.db_table}")


class Bench:
    def __init__(self, url: str, sandbox_pid: int | None = None) -> None:
        from api_client.sandbox.control import SandboxControl

        self.url = url
        self.sandbox = SandboxControl(url, timeout=600)
        self.sandbox_pid = sandbox_pid
        self.rows: list[tuple[str, str, str, str]] = []

    def sandbox_cpu(self) -> float | None:
        return None if self.sandbox_pid is None else process_cpu(self.sandbox_pid)

    def link(self, name: str, profiles: int) -> Any:
        from accounts.models import Role
        from tests.factories import make_link, make_member, make_tenant, make_user

        account = self.sandbox.create_account(name, profiles)
        tenant = make_tenant(name=name)
        link = make_link(
            tenant=tenant,
            api_token=account.api_token,
            sandbox_url=self.url,
            account_id=account.account_id,
            account_name=name,
        )
        link.bench_account = account
        user = make_user(email=f"{uuid.uuid4().hex[:12]}@{BENCH_MAIL}")
        link.bench_editor = make_member(role=Role.TENANT_ADMIN, tenant=tenant, user=user)
        return link

    def child(
        self, mode: str, link_id: int, *, rows: int = 0, script: Path = CHILD_SCRIPT
    ) -> dict[str, Any]:
        """Run ``script``'s child ``mode`` in a fresh process; its figures plus the requests the
        sandbox saw (and the CPU seconds the sandbox used meanwhile)."""
        self.sandbox.reset_stats()
        sandbox_before = self.sandbox_cpu()
        command = [sys.executable, str(script), "--child", mode, "--link", str(link_id)]
        result = subprocess.run(
            [*command, "--rows", str(rows)] if rows else command,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise SystemExit(f"child {mode} failed:\n{result.stderr[-3000:]}")
        figures = dict(json.loads(result.stdout.strip().splitlines()[-1]))
        figures["requests"] = sum(self.sandbox.stats()["requests"].values())
        figures["per_second"] = figures["rows"] / figures["seconds"]
        sandbox_after = self.sandbox_cpu()
        if "cpu" in figures and sandbox_before is not None and sandbox_after is not None:
            figures["cpu"]["sandbox"] = sandbox_after - sandbox_before
        return figures

    def add(self, measure: str, figure: str, against: str, verdict: str = "") -> None:
        self.rows.append((measure, figure, against, verdict))
        print(f"  {measure}: {figure}  |  {against}  {verdict}", flush=True)
