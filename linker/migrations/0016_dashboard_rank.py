# The dashboard's status, as a rank, stored on the link and indexed (issue 16), so the "needs me"
# filter and each status chip read the few links they show by an index instead of ranking
# every tenant on every page.
# ruff: noqa: S608 - the SQL below is constant, built from literals: no input reaches it.
#
# ``Link.status_rank`` is a function of three columns of its own row (the link's state, whether
# it holds a token, and ``latest_run_state``, which migration 0012's triggers keep), so it is
# written by a trigger on the link itself: every way a link changes (saves, ``.update()``,
# bulk creates, 0012's run triggers) passes through it. A generated column would say the same,
# but adding one makes SQLite (the demo) rebuild the links table, which it refuses while 0012's
# triggers on the runs table name it; a nullable column is added in place. A tenant without a
# link is "not linked" (rank 4) in the query.
#
# The ranks are the dashboard's order (linker.health.selectors._STATUS_RANK): 0 needs
# reconnect, 1 failing, 2 pending, 3 syncing, 4 not linked, 5 active.
from typing import Any

from django.db import migrations, models

RANK = """
    CASE
        WHEN {row}.state = 'disconnected' OR {row}.access_token_encrypted = '' THEN 4
        WHEN {row}.state = 'needs_reconnect' THEN 0
        WHEN {row}.state = 'pending' THEN 2
        WHEN {row}.latest_run_state IN ('queued', 'running') THEN 3
        WHEN {row}.latest_run_state = 'failed' THEN 1
        ELSE 5
    END
"""

BACKFILL = f"UPDATE linker_link SET status_rank = {RANK.format(row='linker_link')}"

POSTGRES = [
    f"""
CREATE OR REPLACE FUNCTION linker_link_status_rank() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.status_rank := {RANK.format(row="NEW")};
    RETURN NEW;
END
$$
""",
    """
CREATE TRIGGER linker_link_status_rank_write
    BEFORE INSERT OR UPDATE OF state, access_token_encrypted, latest_run_state, status_rank
    ON linker_link
    FOR EACH ROW EXECUTE FUNCTION linker_link_status_rank()
""",
]

POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS linker_link_status_rank_write ON linker_link",
    "DROP FUNCTION IF EXISTS linker_link_status_rank()",
]

# SQLite has no BEFORE trigger that rewrites the row: the row is corrected after it is written
# (the trigger's own UPDATE of status_rank alone does not fire it again: it is not among the
# columns it watches, and SQLite's triggers do not recurse).
_SQLITE_SET = f"""
    UPDATE linker_link SET status_rank = {RANK.format(row="NEW")}
    WHERE id = NEW.id AND status_rank IS NOT {RANK.format(row="NEW")};
"""

SQLITE = [
    f"""CREATE TRIGGER linker_link_status_rank_insert AFTER INSERT ON linker_link
    BEGIN {_SQLITE_SET} END""",
    f"""CREATE TRIGGER linker_link_status_rank_change
    AFTER UPDATE OF state, access_token_encrypted, latest_run_state ON linker_link
    BEGIN {_SQLITE_SET} END""",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS linker_link_status_rank_insert",
    "DROP TRIGGER IF EXISTS linker_link_status_rank_change",
]


def triggers_create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"No dashboard rank trigger for {vendor}.")
    for statement in POSTGRES if vendor == "postgresql" else SQLITE:
        schema_editor.execute(statement, None)
    schema_editor.execute(BACKFILL, None)


def triggers_drop(apps: Any, schema_editor: Any) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRES_DROP if postgres else SQLITE_DROP:
        schema_editor.execute(statement, None)


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0015_inbound_apply"),
    ]

    operations = [
        migrations.AddField(
            model_name="link",
            name="status_rank",
            field=models.PositiveSmallIntegerField(editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="link",
            index=models.Index(fields=["status_rank"], name="link_status_rank"),
        ),
        migrations.RunPython(triggers_create, triggers_drop, elidable=False),
    ]
