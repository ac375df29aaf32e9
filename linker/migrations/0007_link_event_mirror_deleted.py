"""A link's history records *Delete mirrored data* (issue 12, 11)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0006_change_waiting"),
    ]

    operations = [
        migrations.AlterField(
            model_name="linkevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("connect_started", "Connect started"),
                    ("linked", "Linked"),
                    ("relinked", "Reconnected"),
                    ("link_failed", "Linking failed"),
                    ("access_denied", "Access denied at Copernica"),
                    ("token_rejected", "Token rejected by Copernica"),
                    ("verified", "Verified"),
                    ("disconnected", "Disconnected"),
                    ("mirror_deleted", "Mirrored data deleted"),
                ],
                max_length=30,
            ),
        ),
    ]
