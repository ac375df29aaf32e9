# The dashboard's rows and chip counts, kept by triggers (issue 16).
# ruff: noqa: S608 - the SQL below is constant, built from literals: no input reaches it.
#
# At 10,000 tenants a page cost two scans of every tenant of the agency: a GROUP BY for the
# chips, and a join of tenants, links and schedules sorted whole for a top-50 (no index could
# give the order: the sort keys lived on three tables). ``linker_dashboardrow`` holds one narrow
# row per tenant with every key a page sorts, filters or searches by, and partial indexes
# (agency, key, name, tenant) over listed tenants, one per keyset order, so a page (first or
# deep, by cursor) is one index range. ``linker_dashboardcount`` holds how many of an agency's
# tenants have each status, so the chips read at most a dozen rows.
#
# As in 0012 and 0016 the triggers, not the services, keep them: tenants, links and schedules
# are written in many ways (saves, ``.update()``, bulk creates, 0012's and 0016's own triggers).
# Rows follow tenants (insert, rename, move, archive, delete), links (status rank, profile
# count, account, delete) and schedules (last success); counts follow rows. A count trigger
# touches its two count rows in key order, so two links of one agency changing status at once
# wait for each other rather than deadlock. The row also carries the link's latest request
# ledger day and count (today's requests when that day is today). SQLite (the demo) gets the
# same triggers in its dialect; the search's trigram indexes are PostgreSQL's only.
import datetime
import re
from typing import Any

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models


_NEVER_PG = "'1970-01-01 00:00:00+00'::timestamptz"
# Django stores SQLite times as naive UTC text; this sorts before every one of them.
_NEVER_SQLITE = "'1970-01-01 00:00:00'"

_BACKFILL = """
INSERT INTO linker_dashboardrow (tenant_id, agency_id, name, archived, status_rank,
    profiles_mirrored, last_sync_key, account_id, account_name, requests_day, requests)
SELECT t.id, t.agency_id, t.name, t.archived_at IS NOT NULL, COALESCE(l.status_rank, 4),
    COALESCE(l.profiles_mirrored, 0), COALESCE(s.last_success_at, {never}),
    COALESCE(l.copernica_account_id, ''), COALESCE(l.copernica_account_name, ''),
    (SELECT r.day FROM linker_requestledger r WHERE r.link_id = l.id ORDER BY r.day DESC LIMIT 1),
    COALESCE((
        SELECT r.requests FROM linker_requestledger r WHERE r.link_id = l.id
        ORDER BY r.day DESC LIMIT 1
    ), 0)
FROM accounts_tenant t
LEFT JOIN linker_link l ON l.tenant_id = t.id
LEFT JOIN linker_syncschedule s ON s.link_id = l.id
"""

# What a link without a row of its own shows: not linked, nothing mirrored, never synced.
_UNLINKED = """
    status_rank = 4, profiles_mirrored = 0, last_sync_key = {never},
    account_id = '', account_name = '', requests_day = NULL, requests = 0
"""

_LINK_COLUMNS = (
    "tenant_id, status_rank, profiles_mirrored, copernica_account_id, copernica_account_name"
)

POSTGRES = [
    f"""
CREATE OR REPLACE FUNCTION linker_dashboard_tenant() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO linker_dashboardrow (tenant_id, agency_id, name, archived, status_rank,
            profiles_mirrored, last_sync_key, account_id, account_name, requests)
        VALUES (NEW.id, NEW.agency_id, NEW.name, NEW.archived_at IS NOT NULL, 4, 0,
            {_NEVER_PG}, '', '', 0);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE linker_dashboardrow SET
            agency_id = NEW.agency_id, name = NEW.name, archived = NEW.archived_at IS NOT NULL
        WHERE tenant_id = NEW.id;
    ELSE
        DELETE FROM linker_dashboardrow WHERE tenant_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER linker_tenant_dashboard_write
    AFTER INSERT OR DELETE ON accounts_tenant
    FOR EACH ROW EXECUTE FUNCTION linker_dashboard_tenant()
""",
    """
CREATE TRIGGER linker_tenant_dashboard_change
    AFTER UPDATE OF name, agency_id, archived_at ON accounts_tenant
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.agency_id IS DISTINCT FROM NEW.agency_id
        OR (OLD.archived_at IS NULL) <> (NEW.archived_at IS NULL))
    EXECUTE FUNCTION linker_dashboard_tenant()
""",
    f"""
CREATE OR REPLACE FUNCTION linker_dashboard_link() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.tenant_id <> NEW.tenant_id) THEN
        UPDATE linker_dashboardrow SET {_UNLINKED.format(never=_NEVER_PG)}
        WHERE tenant_id = OLD.tenant_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE linker_dashboardrow SET
            status_rank = COALESCE(NEW.status_rank, 4),
            profiles_mirrored = NEW.profiles_mirrored,
            account_id = NEW.copernica_account_id,
            account_name = NEW.copernica_account_name,
            last_sync_key = COALESCE((
                SELECT s.last_success_at FROM linker_syncschedule s WHERE s.link_id = NEW.id
            ), {_NEVER_PG})
        WHERE tenant_id = NEW.tenant_id;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER linker_link_dashboard_write
    AFTER INSERT OR DELETE ON linker_link
    FOR EACH ROW EXECUTE FUNCTION linker_dashboard_link()
""",
    # Any update, not ``UPDATE OF`` its columns: PostgreSQL fires a column list only for the
    # columns a statement sets, and the status rank is set by 0016's BEFORE trigger.
    """
CREATE TRIGGER linker_link_dashboard_change
    AFTER UPDATE ON linker_link
    FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
        OR OLD.status_rank IS DISTINCT FROM NEW.status_rank
        OR OLD.profiles_mirrored IS DISTINCT FROM NEW.profiles_mirrored
        OR OLD.copernica_account_id IS DISTINCT FROM NEW.copernica_account_id
        OR OLD.copernica_account_name IS DISTINCT FROM NEW.copernica_account_name)
    EXECUTE FUNCTION linker_dashboard_link()
""",
    f"""
CREATE OR REPLACE FUNCTION linker_dashboard_schedule() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.link_id <> NEW.link_id) THEN
        UPDATE linker_dashboardrow d SET last_sync_key = {_NEVER_PG}
        FROM linker_link l WHERE l.id = OLD.link_id AND d.tenant_id = l.tenant_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE linker_dashboardrow d
        SET last_sync_key = COALESCE(NEW.last_success_at, {_NEVER_PG})
        FROM linker_link l WHERE l.id = NEW.link_id AND d.tenant_id = l.tenant_id;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER linker_schedule_dashboard_write
    AFTER INSERT OR DELETE ON linker_syncschedule
    FOR EACH ROW EXECUTE FUNCTION linker_dashboard_schedule()
""",
    """
CREATE TRIGGER linker_schedule_dashboard_change
    AFTER UPDATE OF last_success_at, link_id ON linker_syncschedule
    FOR EACH ROW
    WHEN (OLD.last_success_at IS DISTINCT FROM NEW.last_success_at
        OR OLD.link_id IS DISTINCT FROM NEW.link_id)
    EXECUTE FUNCTION linker_dashboard_schedule()
""",
    """
CREATE OR REPLACE FUNCTION linker_dashboard_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE linker_dashboardrow d SET requests = 0
        FROM linker_link l
        WHERE l.id = OLD.link_id AND d.tenant_id = l.tenant_id AND d.requests_day = OLD.day;
    ELSE
        -- A day's row never hides a later day's (a late write of yesterday's counts).
        UPDATE linker_dashboardrow d SET requests_day = NEW.day, requests = NEW.requests
        FROM linker_link l
        WHERE l.id = NEW.link_id AND d.tenant_id = l.tenant_id
            AND (d.requests_day IS NULL OR d.requests_day <= NEW.day);
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER linker_ledger_dashboard_write
    AFTER INSERT OR DELETE ON linker_requestledger
    FOR EACH ROW EXECUTE FUNCTION linker_dashboard_ledger()
""",
    """
CREATE TRIGGER linker_ledger_dashboard_change
    AFTER UPDATE OF requests, day ON linker_requestledger
    FOR EACH ROW
    WHEN (OLD.requests IS DISTINCT FROM NEW.requests OR OLD.day IS DISTINCT FROM NEW.day)
    EXECUTE FUNCTION linker_dashboard_ledger()
""",
    """
CREATE OR REPLACE FUNCTION linker_dashboard_count_add(
    agency bigint, is_archived boolean, rank integer, delta integer
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF agency IS NULL THEN
        RETURN;  -- a tenant of no agency is counted where it is listed (superusers only)
    END IF;
    INSERT INTO linker_dashboardcount (agency_id, archived, status_rank, n)
    VALUES (agency, is_archived, rank, delta)
    ON CONFLICT (agency_id, archived, status_rank)
    DO UPDATE SET n = linker_dashboardcount.n + EXCLUDED.n;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION linker_dashboard_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM linker_dashboard_count_add(NEW.agency_id, NEW.archived, NEW.status_rank, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM linker_dashboard_count_add(OLD.agency_id, OLD.archived, OLD.status_rank, -1);
    -- Both count rows in key order: concurrent changes lock them in the same order.
    ELSIF (COALESCE(OLD.agency_id, 0), OLD.archived, OLD.status_rank)
            < (COALESCE(NEW.agency_id, 0), NEW.archived, NEW.status_rank) THEN
        PERFORM linker_dashboard_count_add(OLD.agency_id, OLD.archived, OLD.status_rank, -1);
        PERFORM linker_dashboard_count_add(NEW.agency_id, NEW.archived, NEW.status_rank, 1);
    ELSE
        PERFORM linker_dashboard_count_add(NEW.agency_id, NEW.archived, NEW.status_rank, 1);
        PERFORM linker_dashboard_count_add(OLD.agency_id, OLD.archived, OLD.status_rank, -1);
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER linker_dashboardrow_count_write
    AFTER INSERT OR DELETE ON linker_dashboardrow
    FOR EACH ROW EXECUTE FUNCTION linker_dashboard_count()
""",
    """
CREATE TRIGGER linker_dashboardrow_count_change
    AFTER UPDATE OF agency_id, archived, status_rank ON linker_dashboardrow
    FOR EACH ROW
    WHEN (OLD.agency_id IS DISTINCT FROM NEW.agency_id OR OLD.archived <> NEW.archived
        OR OLD.status_rank <> NEW.status_rank)
    EXECUTE FUNCTION linker_dashboard_count()
""",
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS linker_tenant_dashboard_write ON accounts_tenant",
    "DROP TRIGGER IF EXISTS linker_tenant_dashboard_change ON accounts_tenant",
    "DROP TRIGGER IF EXISTS linker_link_dashboard_write ON linker_link",
    "DROP TRIGGER IF EXISTS linker_link_dashboard_change ON linker_link",
    "DROP TRIGGER IF EXISTS linker_schedule_dashboard_write ON linker_syncschedule",
    "DROP TRIGGER IF EXISTS linker_schedule_dashboard_change ON linker_syncschedule",
    "DROP TRIGGER IF EXISTS linker_ledger_dashboard_write ON linker_requestledger",
    "DROP TRIGGER IF EXISTS linker_ledger_dashboard_change ON linker_requestledger",
    "DROP TRIGGER IF EXISTS linker_dashboardrow_count_write ON linker_dashboardrow",
    "DROP TRIGGER IF EXISTS linker_dashboardrow_count_change ON linker_dashboardrow",
    "DROP FUNCTION IF EXISTS linker_dashboard_tenant()",
    "DROP FUNCTION IF EXISTS linker_dashboard_link()",
    "DROP FUNCTION IF EXISTS linker_dashboard_schedule()",
    "DROP FUNCTION IF EXISTS linker_dashboard_ledger()",
    "DROP FUNCTION IF EXISTS linker_dashboard_count()",
    "DROP FUNCTION IF EXISTS linker_dashboard_count_add(bigint, boolean, integer, integer)",
]


def _sqlite_link(row: str) -> str:
    return f"""
        UPDATE linker_dashboardrow SET
            status_rank = COALESCE({row}.status_rank, 4),
            profiles_mirrored = {row}.profiles_mirrored,
            account_id = {row}.copernica_account_id,
            account_name = {row}.copernica_account_name,
            last_sync_key = COALESCE((
                SELECT s.last_success_at FROM linker_syncschedule s WHERE s.link_id = {row}.id
            ), {_NEVER_SQLITE})
        WHERE tenant_id = {row}.tenant_id;
    """


def _sqlite_schedule(link: str, value: str) -> str:
    return f"""
        UPDATE linker_dashboardrow SET last_sync_key = {value}
        WHERE tenant_id = (SELECT l.tenant_id FROM linker_link l WHERE l.id = {link});
    """


def _sqlite_count(row: str, delta: str) -> str:
    return f"""
        INSERT OR IGNORE INTO linker_dashboardcount (agency_id, archived, status_rank, n)
        SELECT {row}.agency_id, {row}.archived, {row}.status_rank, 0
        WHERE {row}.agency_id IS NOT NULL;
        UPDATE linker_dashboardcount SET n = n + ({delta})
        WHERE agency_id = {row}.agency_id AND archived = {row}.archived
            AND status_rank = {row}.status_rank;
    """


def _sqlite_ledger() -> str:
    return """
        UPDATE linker_dashboardrow SET requests_day = NEW.day, requests = NEW.requests
        WHERE tenant_id = (SELECT l.tenant_id FROM linker_link l WHERE l.id = NEW.link_id)
            AND (requests_day IS NULL OR requests_day <= NEW.day);
    """


_SQLITE_UNLINK = f"""
    UPDATE linker_dashboardrow SET {_UNLINKED.format(never=_NEVER_SQLITE)}
    WHERE tenant_id = OLD.tenant_id;
"""

# SQLite locks the whole database for a write: no order to keep between the two count rows.
SQLITE = [
    f"""CREATE TRIGGER linker_tenant_dashboard_insert AFTER INSERT ON accounts_tenant
    BEGIN
        INSERT INTO linker_dashboardrow (tenant_id, agency_id, name, archived, status_rank,
            profiles_mirrored, last_sync_key, account_id, account_name, requests)
        VALUES (NEW.id, NEW.agency_id, NEW.name, NEW.archived_at IS NOT NULL, 4, 0,
            {_NEVER_SQLITE}, '', '', 0);
    END""",
    """CREATE TRIGGER linker_tenant_dashboard_change
    AFTER UPDATE OF name, agency_id, archived_at ON accounts_tenant
    BEGIN
        UPDATE linker_dashboardrow SET
            agency_id = NEW.agency_id, name = NEW.name, archived = NEW.archived_at IS NOT NULL
        WHERE tenant_id = NEW.id;
    END""",
    """CREATE TRIGGER linker_tenant_dashboard_delete AFTER DELETE ON accounts_tenant
    BEGIN DELETE FROM linker_dashboardrow WHERE tenant_id = OLD.id; END""",
    f"""CREATE TRIGGER linker_link_dashboard_insert AFTER INSERT ON linker_link
    BEGIN {_sqlite_link("NEW")} END""",
    f"""CREATE TRIGGER linker_link_dashboard_change AFTER UPDATE OF {_LINK_COLUMNS} ON linker_link
    BEGIN
        UPDATE linker_dashboardrow SET {_UNLINKED.format(never=_NEVER_SQLITE)}
        WHERE tenant_id = OLD.tenant_id AND OLD.tenant_id IS NOT NEW.tenant_id;
        {_sqlite_link("NEW")}
    END""",
    f"""CREATE TRIGGER linker_link_dashboard_delete AFTER DELETE ON linker_link
    BEGIN {_SQLITE_UNLINK} END""",
    f"""CREATE TRIGGER linker_schedule_dashboard_insert AFTER INSERT ON linker_syncschedule
    BEGIN {_sqlite_schedule("NEW.link_id", f"COALESCE(NEW.last_success_at, {_NEVER_SQLITE})")} END""",
    f"""CREATE TRIGGER linker_schedule_dashboard_change
    AFTER UPDATE OF last_success_at, link_id ON linker_syncschedule
    BEGIN
        {_sqlite_schedule("OLD.link_id", _NEVER_SQLITE)}
        {_sqlite_schedule("NEW.link_id", f"COALESCE(NEW.last_success_at, {_NEVER_SQLITE})")}
    END""",
    f"""CREATE TRIGGER linker_schedule_dashboard_delete AFTER DELETE ON linker_syncschedule
    BEGIN {_sqlite_schedule("OLD.link_id", _NEVER_SQLITE)} END""",
    f"""CREATE TRIGGER linker_ledger_dashboard_insert AFTER INSERT ON linker_requestledger
    BEGIN {_sqlite_ledger()} END""",
    f"""CREATE TRIGGER linker_ledger_dashboard_change
    AFTER UPDATE OF requests, day ON linker_requestledger
    BEGIN {_sqlite_ledger()} END""",
    """CREATE TRIGGER linker_ledger_dashboard_delete AFTER DELETE ON linker_requestledger
    BEGIN
        UPDATE linker_dashboardrow SET requests = 0
        WHERE requests_day = OLD.day
            AND tenant_id = (SELECT l.tenant_id FROM linker_link l WHERE l.id = OLD.link_id);
    END""",
    f"""CREATE TRIGGER linker_dashboardrow_count_insert AFTER INSERT ON linker_dashboardrow
    BEGIN {_sqlite_count("NEW", "1")} END""",
    f"""CREATE TRIGGER linker_dashboardrow_count_delete AFTER DELETE ON linker_dashboardrow
    BEGIN {_sqlite_count("OLD", "-1")} END""",
    f"""CREATE TRIGGER linker_dashboardrow_count_change
    AFTER UPDATE OF agency_id, archived, status_rank ON linker_dashboardrow
    WHEN OLD.agency_id IS NOT NEW.agency_id OR OLD.archived IS NOT NEW.archived
        OR OLD.status_rank IS NOT NEW.status_rank
    BEGIN {_sqlite_count("OLD", "-1")} {_sqlite_count("NEW", "1")} END""",
]

_TRIGGER_NAME = re.compile(r"CREATE TRIGGER (\w+)")
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS " + match[1]
    for match in (_TRIGGER_NAME.search(statement) for statement in SQLITE)
    if match
]


# The search (a ``LIKE '%q%'`` on the folded name and account name) by a trigram index (pg_trgm,
# migration 0013) when its trigrams are rare enough to beat a scan of the agency's rows.
_SEARCH = [
    "CREATE INDEX dash_row_search_trgm ON linker_dashboardrow USING gin (search_text gin_trgm_ops)",
    "CREATE INDEX dash_row_account_id ON linker_dashboardrow (account_id)",
]


def triggers_create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"No dashboard row triggers for {vendor}.")
    postgres = vendor == "postgresql"
    for statement in POSTGRES if postgres else SQLITE:
        schema_editor.execute(statement, None)
    if postgres:
        for statement in _SEARCH:
            schema_editor.execute(statement, None)
    # The rows, and through the count trigger the counts.
    schema_editor.execute(_BACKFILL.format(never=_NEVER_PG if postgres else _NEVER_SQLITE), None)


def triggers_drop(apps: Any, schema_editor: Any) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRES_DROP if postgres else SQLITE_DROP:
        schema_editor.execute(statement, None)


def _listed(name: str, *fields: str) -> models.Index:
    """An index of one keyset order over an agency's listed (not archived) tenants."""
    return models.Index(
        fields=["agency_id", *fields, "tenant"], name=name, condition=models.Q(archived=False)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_authenticator_app"),
        ("linker", "0016_dashboard_rank"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("agency_id", models.BigIntegerField()),
                ("archived", models.BooleanField()),
                ("status_rank", models.PositiveSmallIntegerField()),
                ("n", models.IntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("agency_id", "archived", "status_rank"), name="dash_count_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="DashboardRow",
            fields=[
                (
                    "tenant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="dashboard_row",
                        serialize=False,
                        to="accounts.tenant",
                    ),
                ),
                ("agency_id", models.BigIntegerField(null=True)),
                ("name", models.CharField(max_length=200)),
                ("archived", models.BooleanField(default=False)),
                ("status_rank", models.PositiveSmallIntegerField(default=4)),
                ("profiles_mirrored", models.PositiveIntegerField(default=0)),
                (
                    "last_sync_key",
                    models.DateTimeField(
                        default=datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.UTC)
                    ),
                ),
                ("account_id", models.CharField(blank=True, max_length=50)),
                ("account_name", models.CharField(blank=True, max_length=300)),
                ("requests_day", models.DateField(null=True)),
                ("requests", models.PositiveBigIntegerField(default=0)),
                (
                    "search_text",
                    models.GeneratedField(
                        db_persist=True,
                        expression=django.db.models.functions.text.Concat(
                            django.db.models.functions.text.Lower("name"),
                            models.Value("\n"),
                            django.db.models.functions.text.Lower("account_name"),
                        ),
                        output_field=models.TextField(),
                    ),
                ),
            ],
            options={
                "indexes": [
                    _listed("dash_row_name", "name"),
                    _listed("dash_row_name_desc", "-name"),
                    _listed("dash_row_status", "status_rank", "name"),
                    _listed("dash_row_status_desc", "-status_rank", "name"),
                    _listed("dash_row_profiles", "profiles_mirrored", "name"),
                    _listed("dash_row_profiles_desc", "-profiles_mirrored", "name"),
                    _listed("dash_row_sync", "last_sync_key", "name"),
                    _listed("dash_row_sync_desc", "-last_sync_key", "name"),
                ],
            },
        ),
        migrations.RunPython(triggers_create, triggers_drop, elidable=False),
    ]
