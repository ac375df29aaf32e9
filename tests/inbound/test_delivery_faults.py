"""Case 51: duplicated, reordered, delayed and dropped deliveries through the real receiver.

The sandbox calls the live server; each change is stamped a second apart with the sandbox's
clock so that "older" is well defined. After the inbox is applied the mirror equals Copernica
except for the dropped change; after the next gap check (an incremental run) it equals
Copernica, and the dropped change is counted as missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.test import Client
from django.urls import reverse

from api_client.sandbox.control import SandboxControl
from linker.inbound.gaps import inbound_gaps_tally
from linker.models import InboundEvent, InboundLink
from tests.inbound.conftest import Hooked


def test_case_51_faulty_deliveries_leave_the_mirror_equal_to_copernica_after_the_gap_check(
    hooked: Callable[..., Hooked],
    sandbox: SandboxControl,
    served: str,
    transactional_db: None,
) -> None:
    """Case 51: duplicate, reorder, delay and drop; mirror = Copernica after the gap check,
    the dropped delivery counted as missed (and shown on the tenant page)."""
    account = hooked(profiles=12)
    linked = account.linked
    ids = sorted(linked.mirror())
    tick = [time.time()]

    def at_next_second() -> None:
        tick[0] += 1
        sandbox.set_options(clock=tick[0])

    def update(profile: int, city: str) -> None:
        at_next_second()
        sandbox.update_profile(profile, {"city": city})

    sandbox.set_webhook_faults(duplicate=1)
    update(ids[0], "Dup")
    account.settle()
    sandbox.set_webhook_faults(reorder=1)
    update(ids[1], "First")
    update(ids[1], "Second")  # overtakes "First", which then arrives older than the mirror
    account.settle()
    sandbox.set_webhook_faults(delay=1, delay_ms=300)
    update(ids[2], "Late")
    update(ids[3], "Early")
    account.settle()
    sandbox.set_webhook_faults(drop=1)
    update(ids[4], "Dropped")
    account.settle()
    at_next_second()
    created = sandbox.create_profile(linked.account.database_id, {"city": "New"})
    at_next_second()
    sandbox.delete_profile(ids[5])
    account.settle()
    sandbox.set_options(clock=None)

    outcomes = [item["outcome"] for item in sandbox.webhook_deliveries()]
    assert outcomes.count("dropped") == 1
    assert set(outcomes) <= {"200", "dropped"}, outcomes
    # 8 changes, one dropped, one sent twice: 8 deliveries arrived, 7 stored.
    assert account.events() == 7
    applied = account.apply()
    assert applied == 7
    assert account.events(state=InboundEvent.State.SKIPPED, note="older than the mirror") == 1
    remote, mirror = linked.remote(), linked.mirror()
    assert int(created) in mirror
    assert ids[5] not in mirror
    differing = {key for key in remote.keys() | mirror.keys() if remote.get(key) != mirror.get(key)}
    assert differing == {ids[4]}, differing

    account.gap_check()
    assert linked.mirror() == linked.remote()
    assert inbound_gaps_tally() == 1
    inbound = InboundLink.objects.get(pk=account.inbound.pk)
    assert (inbound.missed_today, inbound.refused_count) == (1, 0)
    client = Client()
    client.force_login(linked.editor)
    page = client.get(reverse("tenant_detail", args=[linked.tenant.pk])).content.decode()
    assert "missed by webhooks: 1 today" in page
    print(
        f"case 51: {len(outcomes)} delivery attempts ({outcomes.count('dropped')} dropped), "
        f"{account.events()} stored, {account.events(state='applied')} applied, "
        f"{account.events(state='skipped')} skipped; after the gap check mirror = Copernica "
        f"({len(remote)} profiles); missed by webhooks: {inbound.missed_today}"
    )
