"""Fixtures of the outbox tests: a sandbox account with a collection of subprofiles, linked to
a tenant and fully synced into the mirror (profiles, collections, subprofiles)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from linker.models import ProfileChange, RemoteCollection, RemoteProfile, RemoteSubprofile
from linker.profiles.batch_sending import profile_change_send
from linker.profiles.outbox import SendOutcome
from linker.sync.runs import sync_run_foreground, sync_run_request
from tests.linked_accounts import Linked


@dataclass
class Shop:
    """A synced account: 12 profiles, one collection (``orders``) of 24 subprofiles."""

    linked: Linked
    collection: RemoteCollection

    @property
    def tenant(self):  # type: ignore[no-untyped-def]
        return self.linked.tenant

    @property
    def editor(self):  # type: ignore[no-untyped-def]
        return self.linked.editor

    def profile(self, n: int = 0) -> RemoteProfile:
        """The ``n``-th mirrored profile that has subprofiles, by id."""
        ids = sorted(
            set(
                RemoteSubprofile.objects.filter(collection=self.collection).values_list(
                    "profile_copernica_id", flat=True
                )
            )
        )
        return RemoteProfile.objects.select_related("database").get(
            link=self.linked.link, copernica_id=ids[n]
        )

    def subprofile(self, n: int = 0) -> RemoteSubprofile:
        """The ``n``-th mirrored subprofile, by id."""
        return (
            RemoteSubprofile.objects.select_related("collection", "collection__database")
            .filter(collection=self.collection, removed_at=None)
            .order_by("copernica_id")[n]
        )


def synced_shop(linked: Callable[..., Linked], name: str = "Shop") -> Shop:
    account = linked(profiles=12, name=name, collections=1, subprofiles=24)
    run, _ = sync_run_request(link=account.link, mode="full", enqueue=False)
    assert sync_run_foreground(run=run).state == "succeeded"
    collection = RemoteCollection.objects.get(link=account.link)
    assert RemoteSubprofile.objects.filter(collection=collection).count() == 24
    return Shop(account, collection)


@pytest.fixture
def shop(linked: Callable[..., Linked], sandbox) -> Shop:  # type: ignore[no-untyped-def]
    return synced_shop(linked)


def send(change: ProfileChange) -> ProfileChange:
    """Run the outbox on one change (as a worker would) and return the row as it ended."""
    profile_change_send(change_id=change.pk)
    change.refresh_from_db()
    return change


def send_outcome(change: ProfileChange) -> SendOutcome:
    return profile_change_send(change_id=change.pk)


def requests(sandbox, key: str) -> int:  # type: ignore[no-untyped-def]
    """How many ``key`` requests (``"GET /v4/profile/{id}"``) the sandbox answered."""
    return int(sandbox.stats()["requests"].get(key, 0))
