"""A tenant an agency has lived with for a while: a month of runs, a mirror with collections,
request counts, connect links and a link history, built straight in the database (no sandbox)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import Tenant
from linker.models import (
    ConnectLink,
    Link,
    LinkEvent,
    RemoteCollection,
    RemoteDatabase,
    RemoteProfile,
    RemoteSubprofile,
    RequestLedger,
    RequestLogEntry,
    SyncMode,
    SyncRun,
    SyncSchedule,
    SyncState,
)
from tests.factories import link_tenant

FIELDS = [
    {"name": "email", "type": "email"},
    {"name": "firstname", "type": "text"},
    {"name": "city", "type": "text"},
    {"name": "interests_note", "type": "text"},
]


def busy_tenant(tenant: Tenant, *, runs: int = 30) -> Link:
    """``tenant`` linked, with ``runs`` finished runs (one failed, with its requests in the
    request log: a 429, a 503, two retries, a 400), a database of 3,000 profiles (40 in the
    mirror) and two collections, ledger rows on three of the last 14 days, three connect links
    and ten link events."""
    link = link_tenant(tenant, name=f"{tenant.name} Copernica")
    database = RemoteDatabase.objects.create(
        link=link,
        copernica_id=1,
        name="Customers",
        fields=FIELDS,
        interests=[{"name": "cycling"}, {"name": "running"}],
        remote_count=3000,
        local_count=3000,
    )
    for number, name in ((11, "Orders"), (12, "Visits")):
        RemoteCollection.objects.create(
            link=link,
            database=database,
            copernica_id=number,
            name=name,
            fields=[{"name": "product", "type": "text"}],
            remote_count=1200,
            local_count=1200,
        )
    RemoteProfile.objects.bulk_create(
        RemoteProfile(
            link=link,
            database=database,
            copernica_id=5000 + i,
            fields={
                "email": f"a.very.long.address.of.customer.number.{i}@a-long-domain-name.example",
                "firstname": f"Customer{i}",
                "city": "Utrecht" if i % 2 else "Leiden",
                "interests_note": "likes long rides along the coast and through the dunes " * 2,
            },
            interests=["cycling", "running"] if i % 3 == 0 else [],
            modified=timezone.now() - timedelta(hours=i),
        )
        for i in range(40)
    )
    orders = RemoteCollection.objects.get(link=link, copernica_id=11)
    RemoteSubprofile.objects.bulk_create(
        RemoteSubprofile(
            link=link,
            collection=orders,
            copernica_id=9000 + i,
            profile_copernica_id=5000,
            fields={"product": f"Road bike {i}"},
            modified=timezone.now(),
        )
        for i in range(3)
    )
    now = timezone.now()
    SyncRun.objects.bulk_create(
        SyncRun(
            link=link,
            mode=SyncMode.FULL if i % 8 == 0 else SyncMode.INCREMENTAL,
            state=SyncState.FAILED if i == 3 else SyncState.SUCCEEDED,
            trigger="schedule" if i % 5 else "manual",
            started_at=now - timedelta(hours=i, seconds=30 + 7 * (i % 6)),
            finished_at=now - timedelta(hours=i),
            pages=3 + i % 4,
            requests=5 + i % 7,
            fetched=40 + 3 * (i % 9),
            updated_count=i % 4,
            remote_count=3000 - (i % 4) * 10 if i % 8 == 0 else None,
            local_count=3000 - (i % 4) * 10 if i % 8 == 0 else None,
            error_class="BadRequestError" if i == 3 else "",
            error_message="Copernica said: Invalid value for field city" if i == 3 else "",
        )
        for i in range(runs)
    )
    # bulk_create skips auto_now_add's meaning: spread the queue times like the runs'.
    for run in SyncRun.objects.filter(link=link):
        SyncRun.objects.filter(pk=run.pk).update(queued_at=run.started_at)
    SyncSchedule.objects.create(
        link=link,
        last_success_at=now,
        last_full_at=now,
        next_incremental_at=now + timedelta(minutes=15),
    )
    today = timezone.localdate()
    for days, requests in ((0, 321), (1, 1500), (6, 44)):
        RequestLedger.objects.create(
            link=link,
            account_key="k",
            day=today - timedelta(days=days),
            requests=requests,
            errors=2 if days == 0 else 0,
            rate_limited=1 if days == 1 else 0,
        )
    for i in range(3):
        ConnectLink.objects.create(
            tenant=tenant,
            token_hash=f"{tenant.pk:08d}{i:056d}",
            expires_at=now + timedelta(days=7 - i),
            used_at=now - timedelta(days=1) if i == 2 else None,
        )
    failed = SyncRun.objects.get(link=link, state=SyncState.FAILED)
    assert failed.started_at is not None
    calls = [
        ("GET", "/v4/databases", 200, 1),
        ("GET", "/v4/database/1/collections", 200, 1),
        ("GET", "/v4/database/1/profiles", 429, 1),
        ("GET", "/v4/database/1/profiles", 200, 2),
        ("GET", "/v4/database/1/profiles", 200, 1),
        ("GET", "/v4/collection/11/subprofiles", 503, 1),
        ("GET", "/v4/collection/11/subprofiles", 200, 2),
        ("PUT", "/v4/profile/5003/fields", 400, 1),
    ]
    RequestLogEntry.objects.bulk_create(
        RequestLogEntry(
            link=link,
            at=failed.started_at + timedelta(seconds=2 * i),
            method=method,
            path=path,
            status=status,
            duration_ms=80 + 10 * i,
            attempt=attempt,
        )
        for i, (method, path, status, attempt) in enumerate(calls)
    )
    for i in range(10):
        LinkEvent.objects.create(
            link=link,
            kind=LinkEvent.Kind.VERIFIED if i else LinkEvent.Kind.LINKED,
            message="The daily identity probe answered." if i else "",
        )
    return link
