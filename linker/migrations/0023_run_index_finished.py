# A sync run's checkpoint written after every page as a HOT update (issue 16): the index
# (state, heartbeat_at) made every page's UPDATE, which moves the heartbeat, write a new entry
# into each of the run table's five indexes, and leave as many dead ones. The reconciler finds
# the active runs, few at any time, by the partial unique index on them; the metrics' runs
# that ended lately by (state, finished_at), set once per run. Plain index changes: SQLite
# keeps the table and its triggers.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0022_inbound_created"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="syncrun",
            name="sync_run_state_heartbeat",
        ),
        migrations.AddIndex(
            model_name="syncrun",
            index=models.Index(fields=["state", "finished_at"], name="sync_run_state_finished"),
        ),
    ]
