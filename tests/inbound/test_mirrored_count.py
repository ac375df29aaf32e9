"""Webhook batches keep the dashboard's count of mirrored profiles (``Link.profiles_mirrored``)
by the rows they add and remove: an incremental run's count starts from it."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from linker.models import InboundEvent, Link
from tests.inbound.conftest import Hooked


def event(account: Hooked, number: int, *, action: str, profile: int) -> None:
    linked = account.linked
    InboundEvent.objects.create(
        link=linked.link,
        body_sha256=f"{number:064d}",
        action=action,
        kind="profile",
        copernica_id=profile,
        database_copernica_id=int(linked.account.database_id),
        modified=None if action == "delete" else timezone.now(),
        payload={} if action == "delete" else {"fields": {"email": f"{profile}@x.nl"}},
    )


def mirrored(account: Hooked) -> int:
    return Link.objects.values_list("profiles_mirrored", flat=True).get(pk=account.link_id)


def test_a_batch_that_creates_two_profiles_and_deletes_one_raises_the_count_by_one(
    hooked: Callable[..., Hooked],
) -> None:
    account = hooked(profiles=5, register=False)
    assert mirrored(account) == 5
    held = sorted(account.linked.mirror())
    event(account, 1, action="create", profile=900001)
    event(account, 2, action="create", profile=900002)
    event(account, 3, action="update", profile=held[0])  # changes a row, adds none
    event(account, 4, action="delete", profile=held[1])

    assert account.apply() == 4

    assert mirrored(account) == 6 == len(account.linked.mirror())


def test_a_delete_of_a_profile_already_removed_changes_no_count(
    hooked: Callable[..., Hooked],
) -> None:
    account = hooked(profiles=5, register=False)
    held = sorted(account.linked.mirror())
    event(account, 1, action="delete", profile=held[0])
    event(account, 2, action="delete", profile=held[0])

    account.apply()

    assert mirrored(account) == 4 == len(account.linked.mirror())
