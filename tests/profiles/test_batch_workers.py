"""A real worker killed (SIGKILL) in the middle of a batch of creates (reliability.md cases 17
and 21, for the write-back): every change still ends *done*, each profile made exactly once.

The batch was marked *sending* before its first call, so the changes it held stay *sending*
when the worker dies, whether their POST reached Copernica, was in flight or never went out.
The relay (here called as beat would, with no wait) queues them again as creates in doubt: each
is looked up by its values before it is sent, so none is created twice.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import timedelta

import pytest

from linker.models import ProfileChange
from linker.profiles.relay import profile_changes_relay
from tests.linked_accounts import Linked, synced
from tests.profiles.test_outbox_workers import all_final, env, submit_creates
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

CREATES = 30
PROFILE_POST = "POST /v4/database/{id}/profiles"
PROFILE_LOOKUP = "GET /v4/database/{id}/profiles"


@pytest.fixture(autouse=True)
def _same_settings_here(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LINKER_RETRY_BASE_SECONDS = 0.2


def test_a_worker_killed_in_the_middle_of_a_batch_creates_every_profile_once(
    linked: Callable[..., Linked], sandbox
) -> None:
    """Cases 17 and 21: SIGKILL while a batch of 30 creates is being sent."""
    account = synced(linked, 20)
    # Slow creates, all in one batch (30 x 150 ms, within its 8 s): it is still sending when the
    # kill comes, seconds after its third create even on a loaded machine (with 2 s, the batch
    # could end before the kill landed).
    sandbox.fault(path="/v4/database/", method="POST", delay_ms=150, count=10_000)
    changes = submit_creates(account, CREATES, "killed")
    ids = [c.pk for c in changes]
    sandbox.reset_stats()

    with celery_worker(env={**env(), "LINKER_WRITE_BATCH_SECONDS": "8"}) as worker:
        wait_for(
            lambda: sandbox.stats()["profiles_created"] >= 3,
            timeout=60,
            what="the first creates of a batch",
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    states = ProfileChange.objects.filter(pk__in=ids)
    sending_at_kill = states.filter(state="sending").count()
    done_at_kill = states.filter(state="done").count()
    created_at_kill = sandbox.stats()["profiles_created"]

    profile_changes_relay(older_than=timedelta(0), stale_after=timedelta(0))
    in_doubt = states.filter(state="queued", in_doubt=True).count()
    with celery_worker(env=env()):
        wait_for(lambda: all_final(ids), timeout=120, what="every change to be sent")
    stats = sandbox.stats()
    ended = list(states.values_list("state", flat=True))
    with account.client() as client:
        found = [
            len(
                client.find_profiles(
                    account.account.database_id, {"email": f"killed{n}@example.com"}
                )
            )
            for n in range(CREATES)
        ]

    print(
        f"\ncases 17/21 (write-back): killed with {sending_at_kill} changes sending, "
        f"{done_at_kill} done, {created_at_kill} created at Copernica; the relay queued "
        f"{in_doubt} again as creates in doubt; in the end {stats['profiles_created']} "
        f"created, {stats['requests'].get(PROFILE_POST, 0)} POSTs, "
        f"{stats['requests'].get(PROFILE_LOOKUP, 0)} lookups"
    )
    assert sending_at_kill > 0  # the kill came in the middle of a batch
    assert done_at_kill + sending_at_kill <= CREATES
    assert in_doubt == sending_at_kill  # each looked up before it is sent again
    assert ended == ["done"] * CREATES
    assert stats["profiles_created"] == CREATES
    assert stats["requests"][PROFILE_POST] == CREATES
    assert found == [1] * CREATES
    assert len({c.copernica_profile_id for c in states}) == CREATES
