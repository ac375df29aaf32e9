# The profile mirror's parents checked once per statement instead of once per row (issue 16).
# ruff: noqa: S608 - the SQL below is constant, built from literals: no input reaches it.
#
# The foreign keys of ``linker_remoteprofile`` (its link and its database) made PostgreSQL run
# two referential checks per row at commit: on a full sync's COPY more than half of the cost
# above the keys alone (bench/sync_bench.py). They become plain columns (Django still cascades
# a deleted link or database to its profiles, as before), and statement-level triggers keep
# what the constraints guaranteed, once per statement over its transition table:
#
# - rows inserted must name an existing link and database; the parents they name are locked
#   ``FOR KEY SHARE``, as the constraint's check does, so a concurrent delete of one waits for
#   the inserting transaction and then finds its rows (below);
# - a link or database deleted must leave no profile naming it (the constraints' NO ACTION).
#
# The application never moves a profile to another link or database (no UPDATE writes
# ``link_id`` or ``database_id``), so updates are not checked: a trigger with a transition
# table cannot be limited to some columns, and every update (the sync's upsert, the search
# fill) would pay for it. The checks are immediate, at the end of the statement, where the
# constraints were deferred to the commit: no code inserts a profile before its parents.
#
# The triggers are PostgreSQL's only: on SQLite (the demo) the columns lose their constraints
# too (Django rebuilds the table) and nothing replaces them; there the mirror is written by the
# sync, after its parents, and emptied by Django's cascade before a link or database goes.
import django.db.models.deletion
from django.db import migrations, models

_FORWARDS = (
    """
    CREATE FUNCTION linker_profile_parents_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM linker_link
        WHERE id IN (SELECT DISTINCT link_id FROM inserted) FOR KEY SHARE;
        PERFORM 1 FROM linker_remotedatabase
        WHERE id IN (SELECT DISTINCT database_id FROM inserted) FOR KEY SHARE;
        IF EXISTS (
            SELECT 1 FROM (SELECT DISTINCT link_id FROM inserted) AS n
            WHERE NOT EXISTS (SELECT 1 FROM linker_link AS l WHERE l.id = n.link_id)
        ) OR EXISTS (
            SELECT 1 FROM (SELECT DISTINCT database_id FROM inserted) AS n
            WHERE NOT EXISTS (SELECT 1 FROM linker_remotedatabase AS d WHERE d.id = n.database_id)
        ) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'a profile names a link or database that does not exist';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER remote_profile_parents_check AFTER INSERT ON linker_remoteprofile
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION linker_profile_parents_check()
    """,
    """
    CREATE FUNCTION linker_link_profiles_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM deleted JOIN linker_remoteprofile AS p ON p.link_id = deleted.id
        ) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'a deleted link still has profiles in the mirror';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER link_profiles_check AFTER DELETE ON linker_link
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION linker_link_profiles_check()
    """,
    """
    CREATE FUNCTION linker_database_profiles_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM deleted JOIN linker_remoteprofile AS p ON p.database_id = deleted.id
        ) THEN
            RAISE foreign_key_violation
                USING MESSAGE = 'a deleted database still has profiles in the mirror';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER database_profiles_check AFTER DELETE ON linker_remotedatabase
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION linker_database_profiles_check()
    """,
)

_BACKWARDS = (
    "DROP TRIGGER IF EXISTS database_profiles_check ON linker_remotedatabase",
    "DROP FUNCTION IF EXISTS linker_database_profiles_check()",
    "DROP TRIGGER IF EXISTS link_profiles_check ON linker_link",
    "DROP FUNCTION IF EXISTS linker_link_profiles_check()",
    "DROP TRIGGER IF EXISTS remote_profile_parents_check ON linker_remoteprofile",
    "DROP FUNCTION IF EXISTS linker_profile_parents_check()",
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
        ("linker", "0018_profile_search_text"),
    ]

    operations: list[migrations.operations.base.Operation] = [
        migrations.AlterField(
            model_name="remoteprofile",
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
            model_name="remoteprofile",
            name="database",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="profiles",
                to="linker.remotedatabase",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
