"""A burst of deliveries while no worker runs: the inbox keeps every one, a restarted worker
applies them all (real worker processes, the real receiver on the live server)."""

from __future__ import annotations

import time
from collections.abc import Callable

from api_client.sandbox.control import SandboxControl
from tests.inbound.conftest import Hooked
from tests.workers import celery_worker, wait_for

BURST = 40


def test_a_burst_while_the_worker_is_down_is_kept_and_applied_after_the_restart(
    hooked: Callable[..., Hooked],
    sandbox: SandboxControl,
    served: str,
    transactional_db: None,
) -> None:
    account = hooked(profiles=BURST + 5)
    linked = account.linked
    ids = sorted(linked.mirror())
    with celery_worker(queues="default"):
        sandbox.update_profile(ids[0], {"city": "Before"})
        account.settle()
        wait_for(lambda: account.events(state="applied") == 1, timeout=30, what="first applied")
    # The worker is gone; the burst arrives.
    for number, profile in enumerate(ids[1 : BURST + 1]):
        sandbox.update_profile(profile, {"city": f"Burst {number}"})
    account.settle()
    assert account.events() == BURST + 1
    assert account.events(state="pending") == BURST
    assert linked.mirror() != linked.remote()
    started = time.monotonic()
    with celery_worker(queues="default"):
        wait_for(lambda: account.events(state="pending") == 0, timeout=60, what="inbox drained")
    drained = time.monotonic() - started
    assert account.events(state="applied") == BURST + 1
    assert linked.mirror() == linked.remote()
    print(
        f"worker down during a burst: {BURST} deliveries kept in the inbox, all applied "
        f"{drained:.1f} s after the restart (worker start included)"
    )
