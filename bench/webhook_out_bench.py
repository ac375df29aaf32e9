"""Outbound webhooks: 10,000 events to one local endpoint, delivered by a real worker, against
a bare httpx loop posting the same bodies to the same receiver (issue 15).

    uv run python bench/webhook_out_bench.py [--events 10000]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_webhookbench``, or ``WEBHOOK_BENCH_DB``, created and migrated if missing)

The receiver is a ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) in a process of its own that
answers 204. The events are written in one transaction (as a burst of causes would) for one
endpoint and one tenant, so they go out strictly in order; the clock runs from the commit to
the moment the last delivery is recorded *succeeded* by one worker process
(``celery -A linker worker -Q notifications -c 1``): claim, sign, POST, record each. The
baseline posts the same bodies with one ``httpx.Client`` in a loop, recording nothing.
Goal: at least 0.5x the baseline's deliveries per second.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import bench_django_setup  # noqa: E402 - after the path set-up
from bench.report import bench_table_print, figure  # noqa: E402

BENCH_DB = os.environ.get("WEBHOOK_BENCH_DB", "linker_webhookbench")
AGENCY_SLUG = "webhook-bench"

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _setup_django() -> None:
    os.environ["LINKER_WEBHOOKS_ALLOW_PRIVATE"] = "true"  # the receiver is on this machine
    bench_django_setup(BENCH_DB)


def _receiver() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/hooks"


def _worker() -> subprocess.Popen[bytes]:
    from django.core.cache import cache

    from linker.platform.tasks import worker_ping

    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "linker", "worker", "-Q", "notifications",
            "-c", "1", "-n", f"webhook-bench-{uuid.uuid4().hex[:6]}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        start_new_session=True,
    )  # fmt: skip
    nonce = uuid.uuid4().hex
    worker_ping.apply_async(args=[nonce], queue="notifications")
    deadline = time.monotonic() + 60
    while cache.get(f"worker-ping:{nonce}") != "pong":
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not start")
        time.sleep(0.1)
    return proc


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _events(url: str, count: int) -> list[str]:
    """``count`` events of one tenant for a fresh endpoint at ``url``, committed; the bodies."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Agency, Membership, Role, Tenant, User
    from linker.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
    from linker.outbound.endpoints import webhook_endpoint_create
    from linker.outbound.events import event_body

    agency, _ = Agency.objects.get_or_create(slug=AGENCY_SLUG, defaults={"name": "Hook bench"})
    admin, _ = User.objects.get_or_create(email="webhook-bench@example.com")
    Membership.objects.get_or_create(user=admin, agency=agency, role=Role.AGENCY_ADMIN)
    tenant, _ = Tenant.objects.get_or_create(agency=agency, name="Hook bench tenant")
    WebhookEndpoint.objects.filter(agency=agency).delete()
    endpoint = webhook_endpoint_create(
        agency=agency, user=admin, url=url, event_types=["sync.succeeded"]
    ).endpoint
    now = timezone.now()
    bodies = []
    events = []
    for n in range(count):
        data = {"tenant": {"id": tenant.pk, "name": tenant.name}, "sync_run": {"id": n + 1}}
        body = event_body(event_type="sync.succeeded", at=now, data=data)
        bodies.append(body)
        events.append(WebhookEvent(agency=agency, tenant=tenant, type="sync.succeeded", body=body))
    with transaction.atomic():
        made = WebhookEvent.objects.bulk_create(events, batch_size=2000)
        WebhookDelivery.objects.bulk_create(
            (WebhookDelivery(endpoint=endpoint, event=e, tenant=tenant) for e in made),
            batch_size=2000,
        )
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    started = time.perf_counter()
    _setup_django()
    import httpx
    from django.db import transaction

    from linker.models import WebhookDelivery
    from linker.outbound.endpoints import deliveries_kick

    receiver, url = _receiver()
    worker = None
    try:
        bodies = _events(url, args.events)
        worker = _worker()

        # Ours: from the kick (after commit) to the last delivery recorded.
        pending = WebhookDelivery.objects.filter(endpoint__agency__slug=AGENCY_SLUG)
        t0 = time.perf_counter()
        with transaction.atomic():
            deliveries_kick(pending.filter(state=WebhookDelivery.State.PENDING))
        while pending.filter(state=WebhookDelivery.State.SUCCEEDED).count() < args.events:
            if time.perf_counter() - t0 > 1800:
                raise SystemExit("the worker did not finish within 30 minutes")
            time.sleep(0.2)
        ours = time.perf_counter() - t0
        failed = pending.exclude(state=WebhookDelivery.State.SUCCEEDED).count()
        attempts = sum(pending.values_list("attempts", flat=True))

        # Baseline: the same bodies, one client, a bare loop.
        t0 = time.perf_counter()
        with httpx.Client(timeout=10) as client:
            for body in bodies:
                client.post(url, content=body, headers={"content-type": "application/json"})
        bare = time.perf_counter() - t0
    finally:
        if worker is not None:
            _stop(worker)
        _stop(receiver)

    ours_rate, bare_rate = args.events / ours, args.events / bare
    figures = [
        figure(
            f"deliveries/s, {args.events} events to one endpoint (worker, signed, recorded)",
            round(ours_rate, 1),
            "deliveries/s",
            baseline=round(bare_rate, 1),
            at_least=0.5,
        ),
        figure("attempts per delivery", round(attempts / args.events, 3), "attempts"),
        figure("deliveries not succeeded", failed, "deliveries", at_most=0),
    ]
    rows = [
        [
            "deliveries/s (worker)",
            f"{ours_rate:.0f}/s",
            f"bare httpx loop {bare_rate:.0f}/s",
            f"{ours_rate / bare_rate:.2f}x, goal >= 0.5x",
        ],
        ["attempts per delivery", f"{attempts / args.events:.3f}", "", ""],
        ["not succeeded", str(failed), "", ""],
    ]
    bench_table_print("webhook_out_bench", rows, time.perf_counter() - started, figures=figures)


if __name__ == "__main__":
    main()
