"""The profile browser at 1,000,000 mirrored profiles of one tenant, and the COPY floors (issue 16).

    uv run python bench/browser_bench.py [--profiles 1000000] [--samples 30] [--copy-rows 50000]
    (DATABASE_URL from scripts/services.sh; the database is replaced by ``linker_browserbench``,
    or ``BROWSER_BENCH_DB``, created and migrated if missing; the profiles are COPYed in once
    and kept for later runs while their count matches)

Each goal is the p95 of ``profile_browse`` calls (warm, the page's rows and its capped count
fetched), ``--samples`` each over different terms: an exact e-mail lookup, any-field searches
of rare and common terms, the first page of every sort. Also measured, without goals: a deep
keyset page, a one-field search, a short search, the CSV export's rows of a search. The profile
shape is the sandbox's generated one (email, firstname, lastname, city, age) with a phone and a
zipcode added; their search text is filled (``linker.profiles.search_fill``) before the
measures. Then 1% of the profiles lose their search text (as a sync's writes leave it) and the
rare-term search is measured again, and the fill of those. The COPY floors load
``--copy-rows`` of those profiles into a copy of the mirror table with only its keys, with all
of its indexes, and with the keys and each secondary index alone (each index's COPY cost).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.database import bench_django_setup  # noqa: E402 - after the path set-up
from bench.report import Figure, bench_table_print, figure  # noqa: E402

BENCH_DB = os.environ.get("BROWSER_BENCH_DB", "linker_browserbench")
AGENCY_SLUG = "browser-bench"
BASE_ID = 1_000_000
CHUNK = 50_000
FIELDS = (
    ("email", "email"),
    ("firstname", "text"),
    ("lastname", "text"),
    ("city", "text"),
    ("age", "integer"),
    ("phone", "text"),
    ("zipcode", "text"),
)


def _setup_django() -> None:
    bench_django_setup(BENCH_DB)


def copy_lines(link_id: int, database_id: int, start: int, stop: int) -> list[bytes]:
    """Profiles ``start`` to ``stop`` as COPY text lines, from the sandbox's generator."""
    from api_client.sandbox.generation import ProfileGenerator

    generator = ProfileGenerator(seed=16, database_id=database_id, base=BASE_ID, interests=())
    lines = []
    for index, item in zip(
        range(start, stop), generator.serialized(range(start, stop), False), strict=True
    ):
        fields_at = item.index(b'"fields":') + 9
        fields_end = item.index(b',"interests":')
        created_at = item.index(b'"created":"') + 11
        modified_at = item.index(b'"modified":"') + 12
        extra = f',"phone":"+31 6 {index:08}","zipcode":"{1000 + index % 9000} AB"}}'.encode()
        fields = item[fields_at : fields_end - 1] + extra
        lines.append(
            b"%d\t%d\t%d\t%s\t[]\t%s+00\t%s+00\n"
            % (
                link_id,
                database_id,
                BASE_ID + index,
                fields,
                item[created_at : created_at + 19],
                item[modified_at : modified_at + 19],
            )
        )
    return lines


COLUMNS = "link_id, database_id, copernica_id, fields, interests, created, modified"


def _copy(cursor: Any, table: str, lines: list[bytes]) -> None:
    with cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
        for start in range(0, len(lines), 1000):
            copy.write(b"".join(lines[start : start + 1000]))


def populate(count: int) -> tuple[Any, Any]:
    """The bench's tenant and database with ``count`` live profiles (COPYed in once)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Agency, Tenant
    from linker.models import Link, LinkState, RemoteDatabase, RemoteProfile

    agency, _ = Agency.objects.get_or_create(slug=AGENCY_SLUG, defaults={"name": "Browser bench"})
    tenant, _ = Tenant.objects.get_or_create(agency=agency, name="Browser bench tenant")
    link = Link.objects.filter(tenant=tenant).first()
    if link is None:
        link = Link.objects.create(
            tenant=tenant,
            state=LinkState.ACTIVE,
            state_changed_at=timezone.now(),
            linked_at=timezone.now(),
            copernica_account_id="browser-bench",
            copernica_account_name="Browser bench",
        )
    database, _ = RemoteDatabase.objects.get_or_create(
        link=link,
        copernica_id=601,
        defaults={"name": "Customers", "fields": [{"name": n, "type": t} for n, t in FIELDS]},
    )
    table = RemoteProfile._meta.db_table
    with connection.cursor() as cursor:
        sql = f"SELECT count(*) FROM {table} WHERE database_id = %s"  # noqa: S608 - our table
        cursor.execute(sql, [database.pk])
        held = cursor.fetchone()[0]
    if held == count:
        return tenant, database
    print(f"loading {count:,} profiles (held {held:,})...", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Dropping the secondary indexes and building them after the COPY is several times
        # faster than keeping them up to date row by row.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%%'",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(f"TRUNCATE {table} CASCADE")
        for name, _sql in indexes:
            cursor.execute(f"DROP INDEX {name}")
    for start in range(0, count, CHUNK):
        lines = copy_lines(link.pk, database.pk, start, min(count, start + CHUNK))
        with transaction.atomic(), connection.cursor() as cursor:
            _copy(cursor.cursor, table, lines)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, sql in indexes:
            cursor.execute(sql)
        cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)
    return tenant, database


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 20 else max(samples)


def _timed(call: Callable[[], Any], samples: int) -> list[float]:
    call()  # warm: the plan, the pages it reads
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _terms_timed(call: Callable[[str], Any], terms: list[str]) -> list[float]:
    for term in terms[:3]:
        call(term)
    times = []
    for term in terms:
        began = time.perf_counter()
        call(term)
        times.append((time.perf_counter() - began) * 1000)
    return times


def browse_figures(tenant: Any, database: Any, count: int, samples: int) -> list[Figure]:
    from linker.models import RemoteProfile
    from linker.profiles.keyset import Cursor, cursor_encode
    from linker.profiles.selectors import profile_browse, profile_browse_rows

    rng = random.Random(16)
    picks = [rng.randrange(count) for _ in range(samples)]
    emails = list(
        RemoteProfile.objects.filter(
            database=database, copernica_id__in=[BASE_ID + i for i in picks]
        ).values_list("fields__email", flat=True)
    )
    # Rare: the local part of one address (its index makes it match a handful at most).
    rare = [email.split("@")[0].split(".")[-1] for email in emails]
    common = ["Rotterdam", "Julia", "example.nl", "Jansen", "Utrecht", "Emma", "31 6 000"]
    common = (common * samples)[:samples]

    def browse(**kwargs: Any) -> Any:
        browser = profile_browse(tenant=tenant, database_id=database.copernica_id, **kwargs)
        assert browser.profiles or kwargs.get("query"), kwargs
        return browser

    at = f"{count:,} profiles"
    found = browse(query=emails[0])
    assert found.email_exact, "the exact e-mail lookup found nothing"
    assert len(found.profiles) == 1
    figures = [
        figure(
            f"exact e-mail lookup p95 ({at})",
            _p95(_terms_timed(lambda q: browse(query=q), emails)),
            "ms",
            at_most=20,
        ),
        figure(
            f"any-field search, rare term p95 ({at})",
            _p95(_terms_timed(lambda q: browse(query=q), rare)),
            "ms",
            at_most=300,
        ),
        figure(
            f"any-field search, common term p95 ({at})",
            _p95(_terms_timed(lambda q: browse(query=q), common)),
            "ms",
            at_most=300,
        ),
    ]
    sorts = ["id", "-id", "modified", "-modified", "f:email", "-f:email", "f:city", "-f:lastname"]
    first_pages: list[float] = []
    for sort in sorts:
        first_pages += _timed(lambda s=sort: browse(sort=s), max(4, samples // len(sorts)))
    figures.append(
        figure(f"first page of any sort p95 ({at})", _p95(first_pages), "ms", at_most=50)
    )
    for sort in ("id", "modified", "f:email"):
        middle = RemoteProfile.objects.get(database=database, copernica_id=BASE_ID + count // 2)
        key = {"id": None, "modified": middle.modified, "f:email": middle.fields["email"].lower()}
        after = cursor_encode(Cursor(0, middle.copernica_id, key[sort]))
        figures.append(
            figure(
                f"keyset page in the middle, sort {sort} p95 ({at})",
                _p95(_timed(lambda s=sort, a=after: browse(sort=s, after=a), samples)),
                "ms",
            )
        )
    figures.append(
        figure(
            f"one-field search (lastname, rare) p95 ({at})",
            _p95(_terms_timed(lambda q: browse(query=q, field="email"), rare)),
            "ms",
        )
    )
    figures.append(
        figure(
            f"short search ('an', first {at}) p95",
            _p95(_timed(lambda: browse(query="an"), samples)),
            "ms",
        )
    )

    def export(term: str) -> int:
        browser = browse(query=term)
        return sum(1 for _ in profile_browse_rows(browser=browser))

    began = time.perf_counter()
    rows = export("Rotterdam")
    figures.append(
        figure(
            f"CSV export rows of a common search ({rows:,} rows)",
            time.perf_counter() - began,
            "s",
        )
    )
    figures.append(
        figure(
            "CSV export rows of a rare search",
            _p95(_terms_timed(export, rare[:10])),
            "ms",
        )
    )
    return figures


def copy_floors(database: Any, rows: int, repeats: int = 5) -> list[Figure]:
    """COPY of ``rows`` profiles into copies of the mirror table: keys only, all of today's
    indexes, and the keys with each secondary index alone (its share of the COPY's cost)."""
    from django.db import connection, transaction

    from linker.models import RemoteProfile

    table = RemoteProfile._meta.db_table
    lines = copy_lines(database.link_id, database.pk, 0, rows)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%%' ORDER BY indexname",
            [table],
        )
        secondary = cursor.fetchall()
    key_only = "(LIKE {t} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS)"
    shapes = {"key-only": key_only, "all indexes": "(LIKE {t} INCLUDING ALL)"}
    shapes.update({f"keys + {name}": key_only for name, _sql in secondary})
    tables = {shape: f"bench_copy_floor_{i}" for i, shape in enumerate(shapes)}
    seconds = dict.fromkeys(shapes, float("inf"))
    with connection.cursor() as cursor:
        # The triggers of the mirror (0018's search-text reset) fire on UPDATE only; COPY
        # runs none, so copies without them measure the same.
        for shape, like in shapes.items():
            name = tables[shape]
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(f"CREATE TABLE {name} {like.format(t=table)}")
            if shape != "all indexes":
                cursor.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
                cursor.execute(f"ALTER TABLE {name} ADD UNIQUE (database_id, copernica_id)")
            for index, sql in secondary:
                if shape == f"keys + {index}":
                    cursor.execute(
                        sql.replace(f" {index} ON ", f" {name}_{index[-20:]} ON ").replace(
                            f"public.{table} ", f"public.{name} "
                        )
                    )
        # The shapes take turns, so that a busy moment of the machine falls on each alike;
        # the best of the repeats is each one's floor.
        for _ in range(repeats):
            for shape, name in tables.items():
                cursor.execute(f"TRUNCATE {name}")
                began = time.perf_counter()
                with transaction.atomic():
                    _copy(cursor.cursor, name, lines)
                seconds[shape] = min(seconds[shape], time.perf_counter() - began)
        for name in tables.values():
            cursor.execute(f"DROP TABLE {name}")
    figures = [
        figure(
            f"COPY floor, key-only table ({rows:,} profiles)",
            rows / seconds["key-only"],
            "profiles/s",
        ),
        figure(
            f"COPY floor, mirror with all its indexes ({rows:,} profiles)",
            rows / seconds["all indexes"],
            "profiles/s",
            baseline=rows / seconds["key-only"],
            at_least=0.5,
        ),
    ]
    for name, _sql in secondary:
        # The index's own cost: what it adds to the key-only COPY, in seconds per 100k rows.
        added = seconds[f"keys + {name}"] - seconds["key-only"]
        figures.append(
            figure(
                f"COPY cost of index {name} (added to key-only, per 100,000 profiles)",
                added * 100_000 / rows,
                "s",
            )
        )
    return figures


def unfilled_figures(tenant: Any, database: Any, count: int, unfilled: int) -> list[Figure]:
    """The rare search while ``unfilled`` profiles wait for the search fill (as after a sync
    wrote them), and the fill of those rows."""
    from django.db import connection

    from linker.models import RemoteProfile
    from linker.profiles.search_fill import search_fill
    from linker.profiles.selectors import profile_browse

    rng = random.Random(18)
    picks = [rng.randrange(count) for _ in range(20)]
    emails = list(
        RemoteProfile.objects.filter(
            database=database, copernica_id__in=[BASE_ID + i for i in picks]
        ).values_list("fields__email", flat=True)
    )
    rare = [email.split("@")[0].split(".")[-1] for email in emails]
    table = RemoteProfile._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET search_text = NULL WHERE database_id = %s "  # noqa: S608
            "AND copernica_id %% %s = 0",
            [database.pk, max(1, count // unfilled)],
        )
        cursor.execute(f"ANALYZE {table}")

    def browse(query: str) -> Any:
        return profile_browse(tenant=tenant, database_id=database.copernica_id, query=query)

    at = f"{count:,} profiles, {unfilled:,} unfilled"
    searched = _p95(_terms_timed(browse, rare))
    began = time.perf_counter()
    filled, _ = search_fill(link_id=database.link_id, seconds=3600)
    fill_seconds = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return [
        figure(f"any-field search, rare term p95 ({at})", searched, "ms", at_most=300),
        figure(f"search fill of {filled:,} profiles", filled / fill_seconds, "profiles/s"),
    ]


def search_filled(database: Any) -> None:
    """Fill the search text of every profile not filled yet (after a load, or a migration)."""
    from django.db import connection

    from linker.models import RemoteProfile
    from linker.profiles.search_fill import search_fill

    table = RemoteProfile._meta.db_table
    if not RemoteProfile.objects.filter(database=database, search_text=None).exists():
        return
    print("filling the search text...", flush=True)
    began = time.perf_counter()
    filled, _ = search_fill(link_id=database.link_id, batch=20_000, seconds=3600)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"filled {filled:,} in {time.perf_counter() - began:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--copy-rows", type=int, default=50_000)
    parser.add_argument("--skip-copy", action="store_true", help="no COPY floors")
    parser.add_argument("--skip-unfilled", action="store_true", help="no search with unfilled rows")
    options = parser.parse_args()
    _setup_django()
    started = time.perf_counter()
    tenant, database = populate(options.profiles)
    search_filled(database)
    figures = browse_figures(tenant, database, options.profiles, options.samples)
    if not options.skip_unfilled:
        figures += unfilled_figures(tenant, database, options.profiles, options.profiles // 100)
    if not options.skip_copy:
        figures += copy_floors(database, options.copy_rows)
    bench_table_print("browser_bench", [], time.perf_counter() - started, figures=figures)


if __name__ == "__main__":
    main()
