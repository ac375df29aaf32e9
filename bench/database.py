"""The database of a bench: its own PostgreSQL database beside the one ``DATABASE_URL`` names,
created when missing and migrated, then Django set up on it; and the queries a call makes.

Each bench keeps its own database (``<NAME>_BENCH_DB``), so what one loads (a million profiles,
ten thousand tenants) survives for its next run and never meets another bench's rows.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any


def bench_database_url(name: str) -> str:
    """``DATABASE_URL`` with its database name replaced by ``name``."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/linker")
    return re.sub(r"/[^/]*$", f"/{name}", url)


def bench_django_setup(name: str, *, migrate: bool = True, budget_off: bool = False) -> None:
    """Django on the bench database ``name``: created and migrated first unless ``migrate`` is
    false (a child process of a bench that has done so already). ``budget_off`` turns the
    per-account request budget off, so the linker's own cost is measured, not the allowance."""
    os.environ.setdefault("DJANGO_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linker.settings")
    if budget_off:
        os.environ["LINKER_ACCOUNT_REQUESTS_PER_SECOND"] = "0"
    os.environ["DATABASE_URL"] = bench_database_url(name)
    import django

    if migrate:
        import psycopg

        admin = bench_database_url("postgres").replace("postgres://", "postgresql://", 1)
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if not exists.fetchone():
                # The name comes from the bench's own constant or environment, never a request.
                conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def queries_counted(call: Callable[[], Any]) -> tuple[float, int, Any]:
    """Seconds and queries of ``call()``, and what it returned."""
    from django.db import connection

    queries = 0

    def counted(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    # A wrapper, not CaptureQueriesContext: that keeps only the last 9,000 queries.
    with connection.execute_wrapper(counted):
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
    return seconds, queries, result
