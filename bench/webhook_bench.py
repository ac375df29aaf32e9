"""Copernica's webhooks into the mirror (issue 17): lag from a change to the mirror, and the
receiver's accepted deliveries per second against an empty Django view on the same server.

    uv run python bench/webhook_bench.py [--samples 40] [--requests 300] [--concurrency 4]
        [--burst 10000] [--parts lag,receiver,burst]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_webhookbench``, or ``WEBHOOK_BENCH_DB``, created and migrated if missing)

A sandbox, this project's web server (Django's threaded server, in a process of its own, with
one extra URL: ``bench/empty``, an empty view behind the same middleware) and one ``default``
worker run as processes. A sandbox account of :data:`PROFILES` profiles is linked, mirrored
with a full sync and its webhooks registered.

1. **Lag** (idle worker): ``--samples`` changes made as a person in Copernica would (the
   sandbox's control API), one after another, each timed until the mirror's row shows it.
   Against: the polling it replaces (an incremental run every 15 minutes: a change waits up to
   900 s). Goal: p95 at most 2 s.
2. **Receiver throughput** (worker stopped, so only the receiver is measured): ``--requests``
   signed deliveries, each a different change (signed beforehand with a key the bench publishes
   in the key cache under an allowed ``keyId``), posted by ``--concurrency`` threads; the same
   number of posts to the empty view, alternating in two rounds. Goal: at least 0.5x the empty
   view's rate.
3. **A burst** of ``--burst`` (10,000) events: an account of that many profiles is mirrored by a
   full sync (timed: the baseline), its profile rows are deleted, and one ``create`` event per
   profile, built from Copernica's own list as its deliveries would carry it, goes into the
   inbox; ``inbound_events_apply`` (this process) applies them all; mirror = Copernica is
   checked. Goal: at most 2x the full sync. Both timed parts start from a collected heap.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import gc
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import bench_database_url, bench_django_setup  # noqa: E402 - after the path set-up
from bench.report import Figure, bench_table_print, figure  # noqa: E402

BENCH_DB = os.environ.get("WEBHOOK_BENCH_DB", "linker_webhookbench")
PROFILES = 500
POLL_SECONDS = 0.005
POLLING_INTERVAL_SECONDS = 15 * 60
SIGNED = ("(request-target)", "host", "date", "x-copernica-id", "digest")


def _database_url() -> str:
    return bench_database_url(BENCH_DB)


def _setup_django(*, migrate: bool) -> None:
    bench_django_setup(BENCH_DB, migrate=migrate, budget_off=True)


# ------------------------------------------------------------------ the server process

urlpatterns: list[Any] = []


def serve(port: int) -> None:
    """``--serve PORT``: the project's URLs plus ``bench/empty``, on Django's threaded server."""
    _setup_django(migrate=False)
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import run
    from django.http import HttpRequest, HttpResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def empty_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok", content_type="text/plain")

    urlpatterns[:] = [path("bench/empty", empty_view), path("", include("linker.urls"))]
    settings.ROOT_URLCONF = __name__
    run("127.0.0.1", port, WSGIHandler(), threading=True)


# ------------------------------------------------------------------ the bench process


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_up(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def lag(sandbox: Any, link: Any, ids: list[int], samples: int) -> list[float]:
    from linker.models import RemoteProfile

    lags = []
    for number in range(samples):
        profile = ids[number % len(ids)]
        city = f"Lag {number} {uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        sandbox.update_profile(profile, {"city": city})
        deadline = started + 30
        while True:
            fields = (
                RemoteProfile.objects.filter(link=link, copernica_id=profile)
                .values_list("fields", flat=True)
                .first()
            )
            if fields and fields.get("city") == city:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"change {number} did not reach the mirror within 30 s")
            time.sleep(POLL_SECONDS)
        lags.append(time.monotonic() - started)
    return lags


def signed_deliveries(
    *, base: str, path: str, sandbox_url: str, account_id: str, database_id: str, count: int
) -> list[tuple[dict[str, str], bytes]]:
    """``count`` deliveries signed with a key published in the receiver's key cache."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from django.core.cache import cache

    from api_client.webhooks import body_digest, dkim_record, signing_string
    from linker.inbound.keys import KEY_CACHE_SECONDS, key_cache_key

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = f"{sandbox_url}/__keys__/bench-{uuid.uuid4().hex[:8]}"
    cache.set(key_cache_key(key_id), dkim_record(key.public_key()), timeout=KEY_CACHE_SECONDS)
    host = base.removeprefix("http://")
    out = []
    for number in range(count):
        body = urlencode(
            [
                ("action", "update"),
                ("type", "update"),
                ("id", str(900_000 + number)),
                ("profile", str(900_000 + number)),
                ("database", database_id),
                ("modified", "2026-01-01 12:00:00"),
                ("fields[city]", f"Throughput {number} {uuid.uuid4().hex}"),
            ]
        ).encode()
        headers = {
            "host": host,
            "date": email.utils.formatdate(usegmt=True),
            "x-copernica-id": f"account_{account_id}",
            "digest": body_digest(body),
            "content-type": "application/x-www-form-urlencoded",
        }
        text = signing_string(SIGNED, method="post", target=path, headers=headers)
        signature = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        headers["signature"] = (
            f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(SIGNED)}",'
            f'signature="{base64.b64encode(signature).decode()}"'
        )
        out.append((headers, body))
    return out


def post_all(url: str, requests: list[tuple[dict[str, str], bytes]], concurrency: int) -> float:
    """Requests per second; every answer must be 200."""
    import httpx

    chunks = [requests[i::concurrency] for i in range(concurrency)]

    def send(chunk: list[tuple[dict[str, str], bytes]]) -> list[int]:
        with httpx.Client(timeout=30) as client:
            return [client.post(url, headers=h, content=b).status_code for h, b in chunk]

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        statuses = [status for part in pool.map(send, chunks) for status in part]
    seconds = time.perf_counter() - started
    wrong = {status for status in statuses if status != 200}
    if wrong:
        raise RuntimeError(f"{url} answered {sorted(wrong)}")
    return len(requests) / seconds


def _heap_settle() -> None:
    """Collect the garbage the bench's own set-up left before a timed part starts.

    Building a burst leaves this process tens of thousands of objects a worker would not hold
    (Copernica's whole listing, the documents, 10,000 model instances for the bulk insert);
    Python's full collection comes after so many new objects, and then walks every object of
    the process: ~0.1-0.2 s of the applier's time was that walk over the bench's leftovers.
    Both timed parts (the full sync and the burst) start from a collected heap.
    """
    gc.collect()


def burst(sandbox_url: str, size: int) -> tuple[float, float]:
    """Seconds of a full sync of ``size`` profiles, and of applying ``size`` create events."""
    import hashlib

    from api_client import CopernicaClient, format_timestamp
    from api_client.sandbox.control import SandboxControl
    from linker.inbound.applying import inbound_events_apply
    from linker.inbound.receiver import event_fields
    from linker.models import InboundEvent, InboundLink, RemoteProfile
    from linker.sync.runs import sync_run_foreground, sync_run_request
    from tests.factories import make_link, make_tenant

    sandbox = SandboxControl(sandbox_url)
    account = sandbox.create_account("Burst bench", size)
    link = make_link(
        tenant=make_tenant(name=f"Burst bench {uuid.uuid4().hex[:6]}"),
        api_token=account.api_token,
        sandbox_url=sandbox_url,
        account_id=account.account_id,
    )
    InboundLink.objects.create(link=link)
    _heap_settle()
    started = time.perf_counter()
    run, _ = sync_run_request(link=link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    full_sync = time.perf_counter() - started
    with CopernicaClient(
        account.api_token, api_url=sandbox.api_url, auth_url=sandbox.auth_url
    ) as client:
        items = [
            item for page in client.paginate_keyset(account.database_id) for item in page.items
        ]
    expected = {
        int(item["ID"]): (item["fields"], item["interests"], item["modified"]) for item in items
    }
    RemoteProfile.objects.filter(link=link).delete()
    documents = [
        {
            "action": "create",
            "profile": str(item["ID"]),
            "database": str(account.database_id),
            "fields": item["fields"],
            "interests": item["interests"],
            "created": item["created"],
            "modified": item["modified"],
        }
        for item in items
    ]
    # Stored as the receiver stores a delivery: the inbox columns from the variables.
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                link=link,
                body_sha256=hashlib.sha256(f"{link.pk}:{document['profile']}".encode()).hexdigest(),
                payload=document,
                **(event_fields(document) or {}),
            )
            for document in documents
        ],
        batch_size=2000,
    )
    del documents
    _heap_settle()
    started = time.perf_counter()
    applied = inbound_events_apply(link_id=link.pk)
    seconds = time.perf_counter() - started
    mirror = {
        row.copernica_id: (
            row.fields,
            row.interests,
            format_timestamp(row.modified) if row.modified else "",
        )
        for row in RemoteProfile.objects.filter(link=link, removed_at=None)
    }
    if applied != size or mirror != expected:
        raise RuntimeError(f"burst: {applied} applied; mirror = Copernica: {mirror == expected}")
    InboundEvent.objects.filter(link=link).delete()
    return full_sync, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int, default=0)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument(
        "--parts",
        default="lag,receiver,burst",
        help="which measurements, comma-separated (lag, receiver, burst)",
    )
    options = parser.parse_args()
    if options.serve:
        serve(options.serve)
        return
    bench_started = time.perf_counter()
    sandbox_proc = subprocess.Popen(
        [sys.executable, "-m", "api_client.sandbox", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    processes: list[subprocess.Popen[Any]] = [sandbox_proc]
    try:
        assert sandbox_proc.stdout is not None
        found = re.search(r"(http://\S+)", sandbox_proc.stdout.readline())
        if found is None:
            raise RuntimeError("the sandbox did not start")
        sandbox_url = found.group(1).rstrip("/")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        os.environ["LINKER_BASE_URL"] = base
        os.environ["LINKER_WEBHOOK_KEY_HOSTS"] = (
            f"*.copernica.com,{sandbox_url.removeprefix('http://')}"
        )
        _setup_django(migrate=True)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append(server)
        _wait_up(f"{base}/healthz")
        rows, figures = run_bench(options, sandbox_url=sandbox_url, base=base)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    bench_table_print("webhook_bench", rows, time.perf_counter() - bench_started, figures=figures)


def run_bench(
    options: argparse.Namespace, *, sandbox_url: str, base: str
) -> tuple[list[list[str]], list[Figure]]:
    parts = set(options.parts.split(","))
    rows: list[list[str]] = []
    figures: list[Figure] = []
    if parts & {"lag", "receiver"}:
        part_rows, part_figures = lag_and_receiver(
            options, parts=parts, sandbox_url=sandbox_url, base=base
        )
        rows += part_rows
        figures += part_figures
    if "burst" in parts:
        full_sync, burst_seconds = burst(sandbox_url, options.burst)
        figures += [
            figure(
                f"burst of {options.burst:,} events applied",
                burst_seconds,
                "s",
                baseline=full_sync,
                at_most=2.0,
                goal="<= 2x a full sync of the same profiles, mirror = Copernica",
            ),
            figure(f"full sync of {options.burst:,} profiles", full_sync, "s"),
        ]
        rows.append(
            [
                f"burst of {options.burst:,} events applied",
                f"{burst_seconds:.1f} s",
                f"full sync {full_sync:.1f} s ({burst_seconds / full_sync:.2f}x)",
                "met" if burst_seconds <= 2 * full_sync else "NOT met",
            ]
        )
    return rows, figures


def lag_and_receiver(
    options: argparse.Namespace, *, parts: set[str], sandbox_url: str, base: str
) -> tuple[list[list[str]], list[Figure]]:
    from api_client.sandbox.control import SandboxControl
    from linker.inbound.registration import handler_url, inbound_webhooks_register
    from linker.models import InboundEvent, RemoteProfile
    from linker.sync.runs import sync_run_foreground, sync_run_request
    from tests.factories import make_link, make_tenant
    from tests.workers import celery_worker

    InboundEvent.objects.all().delete()
    sandbox = SandboxControl(sandbox_url)
    account = sandbox.create_account("Webhook bench", PROFILES)
    tenant = make_tenant(name=f"Webhook bench {uuid.uuid4().hex[:6]}")
    link = make_link(
        tenant=tenant,
        api_token=account.api_token,
        sandbox_url=sandbox_url,
        account_id=account.account_id,
        account_name="Webhook bench",
    )
    run, _ = sync_run_request(link=link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    inbound = inbound_webhooks_register(link=link)
    assert inbound is not None, "the link is not usable"
    assert inbound.state == "healthy", inbound.state_reason
    rows: list[list[str]] = []
    figures: list[Figure] = []
    if "lag" in parts:
        ids = sorted(RemoteProfile.objects.filter(link=link).values_list("copernica_id", flat=True))
        env = {**os.environ, "DJANGO_ENV": "test"}
        with celery_worker(queues="default", concurrency=1, env=env):
            lag(sandbox, link, ids, 3)  # warm: the key fetched and cached, connections open
            lags = lag(sandbox, link, ids, options.samples)
        p50, p95 = statistics.median(lags), _percentile(lags, 0.95)
        figures += [
            figure(
                "lag, change at Copernica to mirror, p95",
                p95,
                "s",
                baseline=POLLING_INTERVAL_SECONDS,
                goal="p95 <= 2 s (against polling: up to 900 s)",
                met=p95 <= 2.0,
            ),
            figure("lag, change at Copernica to mirror, p50", p50, "s"),
        ]
        rows.append(
            [
                "lag p50 / p95 (idle worker)",
                f"{p50 * 1000:.0f} / {p95 * 1000:.0f} ms",
                f"polling: up to {POLLING_INTERVAL_SECONDS} s",
                "met" if p95 <= 2.0 else "NOT met",
            ]
        )
    if "receiver" in parts:
        path = handler_url(inbound).removeprefix(base)
        deliveries = signed_deliveries(
            base=base,
            path=path,
            sandbox_url=sandbox_url,
            account_id=account.account_id,
            database_id=account.database_id,
            count=options.requests * 2,
        )
        empty = [({"content-type": "text/plain"}, b"x")] * options.requests
        half = options.requests
        empty_rates, receiver_rates = [], []
        for round_number in range(2):
            empty_rates.append(post_all(f"{base}/bench/empty", empty, options.concurrency))
            batch = deliveries[round_number * half : (round_number + 1) * half]
            receiver_rates.append(post_all(handler_url(inbound), batch, options.concurrency))
        stored = InboundEvent.objects.filter(link=link, copernica_id__gte=900_000).count()
        if stored != options.requests * 2:
            raise RuntimeError(f"{stored} of {options.requests * 2} deliveries stored")
        InboundEvent.objects.filter(link=link).delete()
        empty_rate, receiver_rate = max(empty_rates), max(receiver_rates)
        figures += [
            figure(
                "receiver, accepted deliveries/s",
                receiver_rate,
                "/s",
                baseline=empty_rate,
                at_least=0.5,
                goal=">= 0.5x an empty Django view",
            ),
            figure("empty Django view, requests/s", empty_rate, "/s"),
        ]
        rows.append(
            [
                "receiver deliveries/s",
                f"{receiver_rate:.0f}/s",
                f"empty view {empty_rate:.0f}/s ({receiver_rate / empty_rate:.2f}x)",
                "met" if receiver_rate >= 0.5 * empty_rate else "NOT met",
            ]
        )
    return rows, figures


if __name__ == "__main__":
    main()
