"""The reconcile phase in steps: the id lists of a full run in a table of their own (UNLOGGED
on PostgreSQL), and pending mass removals per source."""

from django.db import migrations, models


def _unlogged(apps, schema_editor):  # type: ignore[no-untyped-def]
    # A copy of Copernica's answer: not worth the write-ahead log (see SyncRemoteId).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE linker_syncremoteid SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0004_collections_subprofiles"),
    ]

    operations = [
        migrations.CreateModel(
            name="SyncRemoteId",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "run_id",
                        "source",
                        "missing",
                        "ordinal",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("run_id", models.BigIntegerField()),
                ("source", models.PositiveIntegerField()),
                ("missing", models.BooleanField(default=False)),
                ("ordinal", models.PositiveIntegerField()),
                ("copernica_id", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(_unlogged, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="syncschedule",
            name="pending_removal_sources",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
