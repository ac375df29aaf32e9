# The profile browser's search and sorts, served by indexes (issue 16).
#
# PostgreSQL only (the demo's SQLite has neither pg_trgm nor GIN): a trigram GIN index over the
# values of a profile (the expression of ``linker.profiles.search.SEARCH_TEXT_SQL``), which
# serves the browser's any-field and per-field search as a prefilter. The ``jsonb_path_ops``
# GIN index of 0002 goes: no query of the project uses containment (``@>``), and every index
# on the mirror is paid for by the sync's COPY. Exact e-mail lookups and the e-mail sort keep
# 0002's ``(database_id, lower(fields->>'email'))`` btree; the id and modified sorts keep the
# unique key and ``remote_profile_db_modified``. The database foreign key loses its own index,
# which the unique (database_id, copernica_id) key makes redundant.
import django.db.models.deletion
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

_CREATE = (
    "CREATE INDEX IF NOT EXISTS remote_profile_search_trgm ON linker_remoteprofile "
    "USING gin ((jsonb_path_query_array(fields, '$.*')::text) gin_trgm_ops)"
)
_DROP = "DROP INDEX IF EXISTS remote_profile_search_trgm"
_OLD_CREATE = (
    "CREATE INDEX IF NOT EXISTS remote_profile_fields_gin ON linker_remoteprofile "
    "USING gin (fields jsonb_path_ops)"
)
_OLD_DROP = "DROP INDEX IF EXISTS remote_profile_fields_gin"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(_CREATE)
    schema_editor.execute(_OLD_DROP)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(_OLD_CREATE)
    schema_editor.execute(_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0012_dashboard_status"),
    ]

    operations: list[migrations.operations.base.Operation] = [
        TrigramExtension(),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="remoteprofile",
            name="database",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="profiles",
                to="linker.remotedatabase",
            ),
        ),
    ]
