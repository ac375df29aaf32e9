# The dashboard's status and latest run, kept on the row they describe (issue 16).
# ruff: noqa: S608 - the SQL below is constant, built from literals: no input reaches it.
#
# ``Link.latest_run_state``, ``copernica_count`` and ``profiles_mirrored`` are written by
# triggers on the runs table, not by the services that change runs: a run's state is written in
# many places (saves, ``.update()`` calls, bulk creates, raw SQL in the engine, factories in
# tests) and a trigger is the one mechanism that cannot miss one of them. They fire only when a
# column they read changes (a run's state, its counts, its queue time), so the page-by-page
# checkpoint UPDATEs of a running sync do not fire them. There is no trigger on the mirror
# tables (a full sync COPYs millions of rows): the live profile count is the one the engine
# counts when a run ends (``SyncRun.local_count``), carried over here when the run succeeds.
from typing import Any

import django.db.models.deletion
from django.db import migrations, models

# The latest run that says something about the account's health: skipped and cancelled runs
# don't (the dashboard's "syncing" and "failing" come from this state).
LATEST_STATE = """
    COALESCE((
        SELECT r.state FROM linker_syncrun r
        WHERE r.link_id = {link} AND r.state NOT IN ('skipped', 'cancelled')
        ORDER BY r.queued_at DESC, r.id DESC LIMIT 1
    ), '')
"""

BACKFILL = f"""
UPDATE linker_link SET
    latest_run_state = {LATEST_STATE.format(link="linker_link.id")},
    copernica_count = (
        SELECT r.remote_count FROM linker_syncrun r
        WHERE r.link_id = linker_link.id AND r.state = 'succeeded'
            AND r.remote_count IS NOT NULL
        ORDER BY r.finished_at DESC, r.id DESC LIMIT 1
    ),
    profiles_mirrored = (
        SELECT COUNT(*) FROM linker_remoteprofile p
        WHERE p.link_id = linker_link.id AND p.removed_at IS NULL
    )
"""

# What the run ``{row}`` (NEW or OLD) changes on its link. A run that succeeds (or whose counts
# change once it has) brings its counts; any change re-reads which run is the latest.
_SUCCEEDS = "{row}.state = 'succeeded' AND {row}.{count} IS NOT NULL"

POSTGRES = [
    f"""
CREATE OR REPLACE FUNCTION linker_link_run_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    run record;
    latest varchar(10);
    brings_counts boolean;
BEGIN
    IF TG_OP = 'DELETE' THEN
        run := OLD;
        brings_counts := false;
    ELSE
        run := NEW;
        brings_counts := NEW.state = 'succeeded' AND (
            TG_OP = 'INSERT'
            OR OLD.state IS DISTINCT FROM NEW.state
            OR OLD.remote_count IS DISTINCT FROM NEW.remote_count
            OR OLD.local_count IS DISTINCT FROM NEW.local_count
        );
    END IF;
    latest := {LATEST_STATE.format(link="run.link_id")};
    -- Written only when something changed: no row version, no lock on the link otherwise.
    UPDATE linker_link l SET
        latest_run_state = latest,
        copernica_count = CASE WHEN brings_counts AND run.remote_count IS NOT NULL
            THEN run.remote_count ELSE l.copernica_count END,
        profiles_mirrored = CASE WHEN brings_counts AND run.local_count IS NOT NULL
            THEN run.local_count ELSE l.profiles_mirrored END
    WHERE l.id = run.link_id AND (
        l.latest_run_state IS DISTINCT FROM latest
        OR (brings_counts AND run.remote_count IS NOT NULL
            AND l.copernica_count IS DISTINCT FROM run.remote_count)
        OR (brings_counts AND run.local_count IS NOT NULL
            AND l.profiles_mirrored IS DISTINCT FROM run.local_count)
    );
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER linker_syncrun_status_write
    AFTER INSERT OR DELETE ON linker_syncrun
    FOR EACH ROW EXECUTE FUNCTION linker_link_run_status()
""",
    """
CREATE TRIGGER linker_syncrun_status_change
    AFTER UPDATE OF state, remote_count, local_count, queued_at, link_id ON linker_syncrun
    FOR EACH ROW
    WHEN (
        OLD.state IS DISTINCT FROM NEW.state
        OR OLD.remote_count IS DISTINCT FROM NEW.remote_count
        OR OLD.local_count IS DISTINCT FROM NEW.local_count
        OR OLD.queued_at IS DISTINCT FROM NEW.queued_at
        OR OLD.link_id IS DISTINCT FROM NEW.link_id
    )
    EXECUTE FUNCTION linker_link_run_status()
""",
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS linker_syncrun_status_write ON linker_syncrun",
    "DROP TRIGGER IF EXISTS linker_syncrun_status_change ON linker_syncrun",
    "DROP FUNCTION IF EXISTS linker_link_run_status()",
]


def _sqlite_update(row: str, *, counts: str) -> str:
    """The UPDATE of an SQLite trigger body (SQLite has no trigger functions)."""
    remote = _SUCCEEDS.format(row=row, count="remote_count")
    local = _SUCCEEDS.format(row=row, count="local_count")
    return f"""
        UPDATE linker_link SET
            latest_run_state = {LATEST_STATE.format(link=f"{row}.link_id")},
            copernica_count = CASE WHEN {counts} AND {remote}
                THEN {row}.remote_count ELSE copernica_count END,
            profiles_mirrored = CASE WHEN {counts} AND {local}
                THEN {row}.local_count ELSE profiles_mirrored END
        WHERE id = {row}.link_id;
    """


_COUNTS_CHANGED = (
    "(OLD.state IS NOT NEW.state OR OLD.remote_count IS NOT NEW.remote_count"
    " OR OLD.local_count IS NOT NEW.local_count)"
)

SQLITE = [
    f"""CREATE TRIGGER linker_syncrun_status_insert AFTER INSERT ON linker_syncrun
    BEGIN {_sqlite_update("NEW", counts="1")} END""",
    f"""CREATE TRIGGER linker_syncrun_status_delete AFTER DELETE ON linker_syncrun
    BEGIN {_sqlite_update("OLD", counts="0")} END""",
    f"""CREATE TRIGGER linker_syncrun_status_change
    AFTER UPDATE OF state, remote_count, local_count, queued_at, link_id ON linker_syncrun
    WHEN OLD.state IS NOT NEW.state OR OLD.remote_count IS NOT NEW.remote_count
        OR OLD.local_count IS NOT NEW.local_count OR OLD.queued_at IS NOT NEW.queued_at
        OR OLD.link_id IS NOT NEW.link_id
    BEGIN {_sqlite_update("NEW", counts=_COUNTS_CHANGED)} END""",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS linker_syncrun_status_insert",
    "DROP TRIGGER IF EXISTS linker_syncrun_status_delete",
    "DROP TRIGGER IF EXISTS linker_syncrun_status_change",
]


def triggers_create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"No dashboard status triggers for {vendor}.")
    # No parameters (None): the SQL is passed as written, "%" and all.
    for statement in POSTGRES if vendor == "postgresql" else SQLITE:
        schema_editor.execute(statement, None)
    schema_editor.execute(BACKFILL, None)


def triggers_drop(apps: Any, schema_editor: Any) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRES_DROP if postgres else SQLITE_DROP:
        schema_editor.execute(statement, None)


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0011_outbound_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="link",
            name="copernica_count",
            field=models.PositiveIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="link",
            name="latest_run_state",
            field=models.CharField(blank=True, default="", editable=False, max_length=10),
        ),
        migrations.AddField(
            model_name="link",
            name="profiles_mirrored",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddIndex(
            model_name="syncrun",
            index=models.Index(fields=["link", "-queued_at", "-id"], name="sync_run_link_latest"),
        ),
        migrations.AlterField(
            model_name="requestledger",
            name="link",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="request_ledgers",
                to="linker.link",
            ),
        ),
        migrations.AddIndex(
            model_name="requestledger",
            index=models.Index(fields=["day", "link"], name="request_ledger_day_link"),
        ),
        migrations.RunPython(triggers_create, triggers_drop, elidable=False),
    ]
