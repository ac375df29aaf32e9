# An inbox event's ``created``, read by the receiver as ``modified`` is (issue 17's burst):
# reading it in SQL (``linker_copernica_time``, migration 0015) was most of the SELECT that
# moves a batch's contents into the mirror. Events stored before keep it empty and are read
# in SQL as before. A nullable column: PostgreSQL adds it without a rewrite, SQLite with an
# ALTER TABLE that keeps 0020's trigger.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0021_inbound_pending"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundevent",
            name="created",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
