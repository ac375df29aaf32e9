# The subprofile mirror's parents checked once per statement instead of once per row (issue 10),
# as migration 0019 did for the profile mirror.
# ruff: noqa: S608 - the SQL below is constant, built from literals: no input reaches it.
#
# The foreign keys of ``linker_remotesubprofile`` (its link and its collection) made PostgreSQL
# queue two referential checks per row of a full sync's COPY and run them at commit. They
# become plain columns (Django still cascades a deleted link or collection to its subprofiles),
# and statement-level triggers keep what the constraints guaranteed, once per statement over
# its transition table:
#
# - rows inserted must name an existing link and collection; the parents they name are locked
#   ``FOR KEY SHARE``, as the constraint's check does, so a concurrent delete of one waits for
#   the inserting transaction and then finds its rows (below);
# - a link or collection deleted must leave no subprofile naming it (the constraints' NO ACTION).
#
# Updates are not checked, for 0019's reason: no UPDATE moves a subprofile to another link or
# collection, and every update (the sync's upsert, write-back, webhooks) would pay for it.
#
# The collection's own index goes too: the unique (collection_id, copernica_id) key leads with
# it and serves every lookup and cascade by collection; each index is paid for by the COPY.
#
# The triggers are PostgreSQL's only, as 0019's: on SQLite (the demo) the columns lose their
# constraints (Django rebuilds the table) and nothing replaces them; there the mirror is written
# by the sync, after its parents, and emptied by Django's cascade before a parent goes.
import django.db.models.deletion
from django.db import migrations, models

_FORWARDS = (
    """
    CREATE FUNCTION linker_subprofile_parents_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM linker_link
        WHERE id IN (SELECT DISTINCT link_id FROM inserted) FOR KEY SHARE;
        PERFORM 1 FROM linker_remotecollection
        WHERE id IN (SELECT DISTINCT collection_id FROM inserted) FOR KEY SHARE;
        IF EXISTS (
            SELECT 1 FROM (SELECT DISTINCT link_id FROM inserted) AS n
            WHERE NOT EXISTS (SELECT 1 FROM linker_link AS l WHERE l.id = n.link_id)
        ) OR EXISTS (
            SELECT 1 FROM (SELECT DISTINCT collection_id FROM inserted) AS n
            WHERE NOT EXISTS (
                SELECT 1 FROM linker_remotecollection AS c WHERE c.id = n.collection_id
            )
        ) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'a subprofile names a link or collection that does not exist';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER remote_subprofile_parents_check AFTER INSERT ON linker_remotesubprofile
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION linker_subprofile_parents_check()
    """,
    """
    CREATE FUNCTION linker_link_subprofiles_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM deleted JOIN linker_remotesubprofile AS s ON s.link_id = deleted.id
        ) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'a deleted link still has subprofiles in the mirror';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER link_subprofiles_check AFTER DELETE ON linker_link
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION linker_link_subprofiles_check()
    """,
    """
    CREATE FUNCTION linker_collection_subprofiles_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM deleted
            JOIN linker_remotesubprofile AS s ON s.collection_id = deleted.id
        ) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'a deleted collection still has subprofiles in the mirror';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER collection_subprofiles_check AFTER DELETE ON linker_remotecollection
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION linker_collection_subprofiles_check()
    """,
)

_BACKWARDS = (
    "DROP TRIGGER IF EXISTS collection_subprofiles_check ON linker_remotecollection",
    "DROP FUNCTION IF EXISTS linker_collection_subprofiles_check()",
    "DROP TRIGGER IF EXISTS link_subprofiles_check ON linker_link",
    "DROP FUNCTION IF EXISTS linker_link_subprofiles_check()",
    "DROP TRIGGER IF EXISTS remote_subprofile_parents_check ON linker_remotesubprofile",
    "DROP FUNCTION IF EXISTS linker_subprofile_parents_check()",
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
        ("linker", "0019_profile_parent_checks"),
    ]

    operations: list[migrations.operations.base.Operation] = [
        migrations.AlterField(
            model_name="remotesubprofile",
            name="link",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="linker.link",
            ),
        ),
        migrations.AlterField(
            model_name="remotesubprofile",
            name="collection",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="subprofiles",
                to="linker.remotecollection",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
