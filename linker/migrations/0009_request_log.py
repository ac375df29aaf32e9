"""The request log per link (issue 14); when a connect link was opened; retired applications."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("linker", "0008_api_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="apiapplication",
            name="retired_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="connectlink",
            name="opened_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="RequestLogEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField()),
                ("method", models.CharField(max_length=8)),
                ("path", models.CharField(max_length=300)),
                ("status", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("duration_ms", models.PositiveIntegerField()),
                ("attempt", models.PositiveSmallIntegerField(default=1)),
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
                "indexes": [models.Index(fields=["link", "-at"], name="request_log_link_at")],
            },
        ),
    ]
