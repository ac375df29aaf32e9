# The profile browser's search index out of the sync's path (issue 16).
# ruff: noqa: S608 - the SQL below is constant, built from literals: no input reaches it.
#
# 0013's trigram GIN index over ``jsonb_path_query_array(fields, '$.*')::text`` was maintained
# for every row the sync COPYed in: a tenth of the key-only COPY speed. The searchable text is
# now a column of its own, ``search_text``, which writes leave NULL and
# ``linker.profiles.search_fill`` fills afterwards; the trigram index covers the filled rows
# only (partial), and a btree ``(link_id, search_text IS NULL, id)`` finds each link's
# unfilled ones, which the search scans (``linker.profiles.search``), so a search is complete
# before, during and after a fill. That btree also takes over ``remote_profile_link_modified``
# (``(link_id, modified DESC)``): no query reads a link's profiles by ``modified``, and the
# per-link counts need only the link in front; one index fewer for every COPYed row.
#
# A trigger resets ``search_text`` when ``fields`` change: every way a row changes (the sync's
# upsert, the inbound and outbound mirror writes, ``.save()``) passes through it. It fires on
# UPDATE only; a new row is NULL by default, so the COPY of a first sync runs no trigger.
# Existing rows start unfilled: each link's next sync run ends by enqueueing its fill.
#
# PostgreSQL only (the demo's SQLite has neither pg_trgm nor GIN nor partial-index search):
# there only the column is added, and the search checks the fields themselves.
from django.db import migrations, models

_SEARCH_TEXT = "(jsonb_path_query_array(fields, '$.*')::text)"

_FORWARDS = (
    """
    CREATE OR REPLACE FUNCTION linker_profile_search_text_reset() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_text := NULL;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER remote_profile_search_text_reset
    BEFORE UPDATE OF fields ON linker_remoteprofile
    FOR EACH ROW WHEN (OLD.fields IS DISTINCT FROM NEW.fields)
    EXECUTE FUNCTION linker_profile_search_text_reset()
    """,
    "DROP INDEX IF EXISTS remote_profile_search_trgm",
    "CREATE INDEX remote_profile_search_trgm ON linker_remoteprofile "
    "USING gin (search_text gin_trgm_ops) WHERE search_text IS NOT NULL",
    "CREATE INDEX remote_profile_link_search ON linker_remoteprofile "
    "(link_id, (search_text IS NULL), id)",
)

_BACKWARDS = (
    "DROP INDEX IF EXISTS remote_profile_link_search",
    "DROP INDEX IF EXISTS remote_profile_search_trgm",
    "CREATE INDEX remote_profile_search_trgm ON linker_remoteprofile "
    f"USING gin ({_SEARCH_TEXT} gin_trgm_ops)",
    "DROP TRIGGER IF EXISTS remote_profile_search_text_reset ON linker_remoteprofile",
    "DROP FUNCTION IF EXISTS linker_profile_search_text_reset()",
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in _FORWARDS:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in _BACKWARDS:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0017_dashboard_rows"),
    ]

    operations: list[migrations.operations.base.Operation] = [
        migrations.AddField(
            model_name="remoteprofile",
            name="search_text",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
        migrations.RemoveIndex(model_name="remoteprofile", name="remote_profile_link_modified"),
        migrations.RunPython(forwards, backwards),
    ]
