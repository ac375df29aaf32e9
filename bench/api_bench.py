"""The API's profile list at 100,000 mirrored profiles, against its own selector (issue 15).

    uv run python bench/api_bench.py [--profiles 100000] [--pages 300] [--limit 100]
    (DATABASE_URL and REDIS_URL from scripts/services.sh; the database is replaced by
    ``linker_apibench``, or ``API_BENCH_DB``, created and migrated if missing, and the
    profiles made once and kept for later runs)

``GET /api/v1/tenants/{id}/profiles?limit=100`` is called in-process (Django's test client:
the whole request, from the key's check and the throttle to the request log and the JSON,
without the network), following ``next`` page after page from the start and from depths
spread over the whole mirror. The baseline is the same selector
(``linker.api.selectors.profile_list``) called directly for the same pages, ``> position``
and ``LIMIT 101`` as the pagination asks it, the rows fetched. Goals: the API's p95 per page
within 2x the selector's; the same number of queries on every page, deep or shallow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import bench_django_setup  # noqa: E402 - after the path set-up
from bench.report import Figure, bench_table_print, figure  # noqa: E402

BENCH_DB = os.environ.get("API_BENCH_DB", "linker_apibench")
AGENCY_SLUG = "api-bench"
BATCH = 5_000
FIELDS = ("firstname", "lastname", "email", "city", "zipcode", "phone")


def _setup_django() -> None:
    bench_django_setup(BENCH_DB)


def populate(count: int) -> tuple[Any, Any, Any]:
    """The bench's agency, tenant and database with ``count`` live profiles (made once)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Agency, Membership, Role, Tenant, User
    from linker.models import Link, LinkState, RemoteDatabase, RemoteProfile
    from linker.platform import vault
    from linker.platform.keys import token_context

    agency, _ = Agency.objects.get_or_create(slug=AGENCY_SLUG, defaults={"name": "API bench"})
    admin, _ = User.objects.get_or_create(email="api-bench@example.com")
    Membership.objects.get_or_create(user=admin, agency=agency, role=Role.AGENCY_ADMIN)
    tenant, _ = Tenant.objects.get_or_create(agency=agency, name="API bench tenant")
    link = Link.objects.filter(tenant=tenant).first()
    if link is None:
        link = Link(
            tenant=tenant,
            state=LinkState.ACTIVE,
            state_changed_at=timezone.now(),
            linked_at=timezone.now(),
            copernica_account_id="api-bench",
            copernica_account_name="API bench",
        )
        link.access_token_encrypted = vault.encrypt("bench-token", context=token_context(link))
        link.save()
    database, _ = RemoteDatabase.objects.get_or_create(
        link=link,
        copernica_id=501,
        defaults={"name": "Customers", "fields": [{"name": n, "type": "text"} for n in FIELDS]},
    )
    held = RemoteProfile.objects.filter(database=database, removed_at=None).count()
    if held != count:
        RemoteProfile.objects.filter(database=database).delete()
        now = timezone.now()
        for start in range(0, count, BATCH):
            RemoteProfile.objects.bulk_create(
                RemoteProfile(
                    link=link,
                    database=database,
                    copernica_id=1_000_000 + n,
                    fields={
                        "firstname": f"First{n}",
                        "lastname": f"Last{n}",
                        "email": f"person{n}@example.com",
                        "city": ("Leiden", "Delft", "Gouda", "Ede")[n % 4],
                        "zipcode": f"{1000 + n % 9000} AB",
                        "phone": f"+31 6 {n:08}",
                    },
                    interests=["news"] if n % 3 == 0 else [],
                    created=now,
                    modified=now,
                )
                for n in range(start, min(start + BATCH, count))
            )
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {RemoteProfile._meta.db_table}")
    return agency, admin, tenant


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 20 else max(samples)


def _starts(count: int, walks: int) -> list[int | None]:
    """Where each walk starts: the beginning, then positions spread over the whole mirror."""
    step = count // walks
    return [None] + [1_000_000 + i * step - 1 for i in range(1, walks)]


def measure(tenant: Any, key: str, *, pages: int, limit: int, count: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.pagination import Cursor

    from linker.api.pagination import KeysetPagination
    from linker.api.selectors import profile_list
    from linker.linking.links import link_get
    from linker.profiles.selectors import database_list

    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    url = f"/api/v1/tenants/{tenant.pk}/profiles"
    link = link_get(tenant=tenant)
    database = database_list(link=link)[0]
    encoder = KeysetPagination()
    encoder.base_url = f"http://testserver{url}?limit={limit}"
    walks = 10
    per_walk = max(1, pages // walks)

    api_ms: list[float] = []
    selector_ms: list[float] = []
    queries: list[int] = []
    for start in _starts(count, walks):
        next_url = encoder.encode_cursor(Cursor(0, False, str(start))) if start else None
        position = start
        for _page in range(per_walk):
            began = time.perf_counter()
            rows = list(
                (
                    profile_list(link=link, database=database).filter(copernica_id__gt=position)
                    if position is not None
                    else profile_list(link=link, database=database)
                )[: limit + 1]
            )
            selector_ms.append((time.perf_counter() - began) * 1000)
            with CaptureQueriesContext(connection) as captured:
                began = time.perf_counter()
                response = client.get(next_url or f"{url}?limit={limit}", **auth)
                body = response.json()
                api_ms.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.content[:300]
            assert [p["id"] for p in body["results"]] == [r.copernica_id for r in rows[:limit]]
            queries.append(len(captured))
            if not body["next"]:
                break
            next_url = body["next"].removeprefix("http://testserver")
            position = rows[limit - 1].copernica_id
    return {"api": api_ms, "selector": selector_ms, "queries": queries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=300, help="pages measured (10 walks)")
    parser.add_argument("--limit", type=int, default=100)
    options = parser.parse_args()
    _setup_django()
    from django.conf import settings

    from linker.models import ApiKey
    from linker.platform.api_keys import api_key_create

    # The throttle is per key and would answer 429 long before the bench ends.
    settings.LINKER_API_RATE = "100000000/minute"
    started = time.perf_counter()
    agency, admin, tenant = populate(options.profiles)
    ApiKey.objects.filter(agency=agency).delete()
    key = api_key_create(agency=agency, user=admin, name="bench", scopes=["read"]).secret
    # One walk to warm the caches and the connection, not counted.
    measure(tenant, key, pages=10, limit=options.limit, count=options.profiles)
    result = measure(tenant, key, pages=options.pages, limit=options.limit, count=options.profiles)

    api_p95, selector_p95 = _p95(result["api"]), _p95(result["selector"])
    api_median = statistics.median(result["api"])
    selector_median = statistics.median(result["selector"])
    counts = sorted(set(result["queries"]))
    constant = len(counts) == 1
    at = f"{options.profiles:,} profiles"
    page = f"pages of {options.limit}"
    figures: list[Figure] = [
        figure(
            f"API profile page p95 ({page}, {at})",
            api_p95,
            "ms",
            baseline=selector_p95,
            at_most=2.0,
        ),
        figure(
            f"API profile page median ({page}, {at})", api_median, "ms", baseline=selector_median
        ),
        figure(
            f"API queries per profile page ({at})",
            float(max(counts)),
            "queries",
            goal="the same on every page",
            met=constant,
        ),
    ]
    rows = [
        (
            f"GET /tenants/{{id}}/profiles, {page}, p95 ({len(result['api'])} pages, {at})",
            f"{api_p95:.2f} ms (median {api_median:.2f} ms)",
            f"selector directly: {selector_p95:.2f} ms (median {selector_median:.2f} ms)",
            f"{api_p95 / selector_p95:.2f}x; goal <= 2x: "
            + ("goal met" if api_p95 <= 2 * selector_p95 else "goal NOT met"),
        ),
        (
            "queries per page (first to deepest)",
            f"{counts[0]}" if constant else f"{counts}",
            "",
            "constant: goal met" if constant else "NOT constant: goal NOT met",
        ),
    ]
    bench_table_print("api_bench", rows, time.perf_counter() - started, figures=figures)


if __name__ == "__main__":
    main()
