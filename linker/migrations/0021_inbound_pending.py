# The inbox's pending events in a queue of their own, so that finishing an event is a HOT
# update (issue 17's burst).
#
# A worker finishing an event sets its ``state``, ``note`` and ``applied_at``. ``state`` was
# in the predicate of the partial index that found the pending events, so every finish wrote
# a whole new row version elsewhere and an entry in each of the table's five indexes (the
# unique body hash among them): more than a quarter of a burst of 10,000 events. Now:
# - ``linker_inboundpending`` (event, link) is the queue: a trigger adds the pending events
#   every insert stores (the receiver's, the bench's and tests' bulk ones alike), the worker
#   deletes them in the statement that finishes them (linker.inbound.batch_reads);
# - deleting events deletes their queue rows by a trigger as well (the field has no
#   constraint and Django does not cascade along it: that would make it load every event a
#   prune or a link's deletion removes, where it now deletes them in one statement);
# - the partial ``pending`` index and the link's own index go (the unique (link, body) index
#   serves lookups by link), so no indexed column changes on finishing;
# - on PostgreSQL the inbox keeps half of each page free (fillfactor 50): a row is finished
#   once, so its new version fits beside it and no index is touched.
# SQLite (the demo) gets the same triggers in its dialect; it has no fillfactor.
from typing import Any

import django.db.models.deletion
from django.db import migrations, models

_POSTGRES = [
    """
CREATE FUNCTION linker_inbound_pending_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO linker_inboundpending (event_id, link_id)
    SELECT id, link_id FROM inserted WHERE state = 'pending';
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER inbound_event_pending_add AFTER INSERT ON linker_inboundevent
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION linker_inbound_pending_add()
""",
    """
CREATE FUNCTION linker_inbound_pending_remove() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM linker_inboundpending AS q USING deleted AS d WHERE q.event_id = d.id;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER inbound_event_pending_remove AFTER DELETE ON linker_inboundevent
REFERENCING OLD TABLE AS deleted
FOR EACH STATEMENT EXECUTE FUNCTION linker_inbound_pending_remove()
""",
    "ALTER TABLE linker_inboundevent SET (fillfactor = 50)",
]
_POSTGRES_DROP = [
    "ALTER TABLE linker_inboundevent RESET (fillfactor)",
    "DROP TRIGGER IF EXISTS inbound_event_pending_add ON linker_inboundevent",
    "DROP FUNCTION IF EXISTS linker_inbound_pending_add()",
    "DROP TRIGGER IF EXISTS inbound_event_pending_remove ON linker_inboundevent",
    "DROP FUNCTION IF EXISTS linker_inbound_pending_remove()",
]
_SQLITE = [
    """
CREATE TRIGGER inbound_event_pending_add AFTER INSERT ON linker_inboundevent
FOR EACH ROW WHEN NEW.state = 'pending'
BEGIN
    INSERT INTO linker_inboundpending (event_id, link_id) VALUES (NEW.id, NEW.link_id);
END
""",
    """
CREATE TRIGGER inbound_event_pending_remove AFTER DELETE ON linker_inboundevent
FOR EACH ROW
BEGIN
    DELETE FROM linker_inboundpending WHERE event_id = OLD.id;
END
""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS inbound_event_pending_add",
    "DROP TRIGGER IF EXISTS inbound_event_pending_remove",
]
_BACKFILL = """
INSERT INTO linker_inboundpending (event_id, link_id)
SELECT id, link_id FROM linker_inboundevent WHERE state = 'pending'
"""


def queue_create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"No inbox queue trigger for {vendor}.")
    for sql in [*(_POSTGRES if vendor == "postgresql" else _SQLITE), _BACKFILL]:
        schema_editor.execute(sql)


def queue_drop(apps: Any, schema_editor: Any) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for sql in _POSTGRES_DROP if postgres else _SQLITE_DROP:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0020_subprofile_parent_checks"),
    ]

    operations = [
        migrations.CreateModel(
            name="InboundPending",
            fields=[
                (
                    "event",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="pending",
                        serialize=False,
                        to="linker.inboundevent",
                    ),
                ),
                (
                    "link",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="linker.link",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["link", "event"], name="inbound_pending_order"),
                ],
            },
        ),
        migrations.RemoveIndex(
            model_name="inboundevent",
            name="inbound_event_pending",
        ),
        migrations.AlterField(
            model_name="inboundevent",
            name="link",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="linker.link",
            ),
        ),
        # Last: SQLite rebuilds the inbox table for the field above, dropping its triggers.
        migrations.RunPython(queue_create, queue_drop, elidable=False),
    ]
