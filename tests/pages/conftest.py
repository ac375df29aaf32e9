"""Fixtures of the page tests: a mirror with runs, profiles and ledger rows, no sandbox needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from linker.models import (
    Link,
    RemoteDatabase,
    RemoteProfile,
    RequestLedger,
    SyncSchedule,
)
from tests.conftest import World
from tests.factories import finished_run, link_tenant

FIELDS = [
    {"name": "email", "type": "email"},
    {"name": "firstname", "type": "text"},
    {"name": "city", "type": "text"},
    {"name": "age", "type": "integer"},
]
INTERESTS = [{"name": "cycling"}, {"name": "running"}]


@dataclass
class Mirror:
    world: World
    link: Link
    database: RemoteDatabase
    staff: Client
    viewer: Client

    def profile(self, copernica_id: int) -> RemoteProfile:
        return RemoteProfile.objects.get(link=self.link, copernica_id=copernica_id)


@pytest.fixture
def mirror(world: World) -> Mirror:
    """Agency A's "Alpha Bikes" linked and synced: 120 profiles, two runs, ledger rows."""
    link = link_tenant(world.tenant_a1, name="Alpha Bikes Copernica")
    database = RemoteDatabase.objects.create(
        link=link, copernica_id=1, name="Customers", fields=FIELDS, interests=INTERESTS
    )
    RemoteProfile.objects.bulk_create(
        RemoteProfile(
            link=link,
            database=database,
            copernica_id=1000 + i,
            fields={
                "email": f"rider{i}@alpha.example",
                "firstname": f"Rider{i}",
                "city": "Utrecht" if i % 2 else "Leiden",
                "age": str(20 + i % 50),
            },
            interests=["cycling"] if i % 3 == 0 else [],
            modified=timezone.now() - timedelta(minutes=i),
        )
        for i in range(120)
    )
    finished_run(link, ago_minutes=90, remote_count=118, local_count=118, fetched=118)
    finished_run(link, ago_minutes=30, remote_count=120, local_count=120, fetched=120)
    SyncSchedule.objects.create(
        link=link, last_success_at=timezone.now(), last_full_at=timezone.now()
    )
    today = timezone.localdate()
    RequestLedger.objects.create(link=link, account_key="k", day=today, requests=321, errors=2)
    RequestLedger.objects.create(
        link=link, account_key="k", day=today - timedelta(days=1), requests=1500
    )
    staff, viewer = Client(), Client()
    staff.force_login(world.staff_a)
    viewer.force_login(world.viewer_a1)
    return Mirror(world, link, database, staff, viewer)
