# Copernica's timestamps read inside PostgreSQL, so that applying a burst of inbox events moves
# their contents from the inbox into the mirror without a round trip through Python
# (linker.inbound.mirror_writes, issue 17).
#
# ``linker_copernica_time(text)`` is ``api_client.parse_timestamp`` in SQL: a
# ``YYYY-MM-DD hh:mm:ss`` on Amsterdam's wall clock as an instant, NULL for anything else
# (``0000-00-00 00:00:00``, a day the month lacks, garbage). In the autumn's repeated hour
# PostgreSQL's ``AT TIME ZONE`` takes the later instant; the earlier one (summer time) is taken
# here, as Python's ``fold=0`` does. Nested CASEs, because PostgreSQL does not promise to
# evaluate an AND's operands in order and a cast of an invalid date raises. PostgreSQL only:
# the demo's SQLite applies events in Python.
from django.db import migrations

_CREATE = r"""
CREATE OR REPLACE FUNCTION linker_copernica_time(value text) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN value ~ ('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) '
                  '([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$')
         AND left(value, 4) <> '0000'
    THEN CASE
        WHEN substr(value, 9, 2)::int <= extract(day from make_date(
                 substr(value, 1, 4)::int, substr(value, 6, 2)::int, 1
             ) + interval '1 month - 1 day')
        THEN CASE
            WHEN ((value::timestamp AT TIME ZONE 'Europe/Amsterdam') - interval '1 hour')
                 AT TIME ZONE 'Europe/Amsterdam' = value::timestamp
            THEN (value::timestamp AT TIME ZONE 'Europe/Amsterdam') - interval '1 hour'
            ELSE value::timestamp AT TIME ZONE 'Europe/Amsterdam'
        END
    END
END
$$
"""
_DROP = "DROP FUNCTION IF EXISTS linker_copernica_time(text)"


def _create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_CREATE)


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0013_profile_search"),
    ]

    operations = [
        migrations.RunPython(_create, _drop),
    ]
