"""Applying the inbox: an update for a profile the mirror lacks is fetched; subprofile events
fired by both the database's and the collection's webhooks are stored and applied once."""

from __future__ import annotations

from collections.abc import Callable

from api_client.sandbox.control import SandboxControl
from linker.models import InboundEvent, RemoteProfile
from tests.inbound.conftest import Hooked


def test_an_update_for_a_profile_the_mirror_lacks_is_fetched_from_copernica(
    hooked: Callable[..., Hooked], sandbox: SandboxControl
) -> None:
    account = hooked(profiles=4, register=False)
    linked = account.linked
    profile = sorted(linked.mirror())[0]
    RemoteProfile.objects.filter(link=linked.link, copernica_id=profile).delete()
    with linked.client() as client:
        client.update_profile(profile, {"city": "Fetched"})
    # The event's own fields are stale: what counts is what Copernica shows now.
    InboundEvent.objects.create(
        link=linked.link,
        body_sha256="a" * 64,
        action="update",
        kind="profile",
        copernica_id=profile,
        database_copernica_id=int(linked.account.database_id),
        payload={"fields": {"city": "Stale"}, "modified": "2001-01-01 00:00:00"},
    )
    sandbox.reset_stats()
    assert account.apply() == 1
    requests = sandbox.stats()["requests"]
    assert requests.get("GET /v4/profile/{id}") == 1, requests
    assert linked.mirror() == linked.remote()
    assert InboundEvent.objects.get(link=linked.link).note == "created"


def test_subprofile_changes_fired_by_two_webhooks_are_applied_once(
    hooked: Callable[..., Hooked],
    sandbox: SandboxControl,
    served: str,
    transactional_db: None,
) -> None:
    account = hooked(profiles=3, collections=1, subprofiles=3)
    linked = account.linked
    subprofiles = sorted(linked.mirror_subprofiles())
    field = sorted(linked.mirror_subprofiles()[subprofiles[0]][2])[0]
    sandbox.update_subprofile(subprofiles[0], {field: "changed at Copernica"})
    sandbox.delete_subprofile(subprofiles[1])
    account.settle()
    delivered = [item for item in sandbox.webhook_deliveries() if item["outcome"] == "200"]
    assert len(delivered) == 4  # the database's and the collection's webhook, each change
    assert account.events() == 2
    assert account.apply() == 2
    assert linked.mirror_subprofiles() == linked.remote_subprofiles()
    assert subprofiles[1] not in linked.mirror_subprofiles()
