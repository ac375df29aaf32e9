# The authenticator apps' secrets sealed at rest (accounts.authenticator): a device model of our
# own, and every django-otp TOTPDevice (plain-text secret) carried over into it, then deleted.

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models
from django.utils.module_loading import import_string


def carry_over(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    AuthenticatorApp = apps.get_model("accounts", "AuthenticatorApp")
    old = list(TOTPDevice.objects.all())
    if not old:
        return
    box = import_string(settings.ACCOUNTS_KEY_RING)()
    for device in old:
        uid = uuid.uuid4()
        AuthenticatorApp.objects.create(
            user_id=device.user_id,
            name=device.name,
            confirmed=device.confirmed,
            uid=uid,
            # The same context as accounts.authenticator.key_context (migrations keep no imports
            # of project code that may change).
            key_encrypted=box.encrypt(device.key, context=f"accounts_authenticatorapp:{uid}:key"),
            step=device.step,
            t0=device.t0,
            digits=device.digits,
            tolerance=device.tolerance,
            drift=device.drift,
            last_t=device.last_t,
            throttling_failure_timestamp=device.throttling_failure_timestamp,
            throttling_failure_count=device.throttling_failure_count,
            created_at=device.created_at,
            last_used_at=device.last_used_at,
        )
    TOTPDevice.objects.filter(pk__in=[device.pk for device in old]).delete()


def carry_back(apps, schema_editor):
    # Unapplying unseals the secrets into django-otp's table again, so no one loses their app.
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    AuthenticatorApp = apps.get_model("accounts", "AuthenticatorApp")
    box = None
    for device in AuthenticatorApp.objects.all():
        box = box or import_string(settings.ACCOUNTS_KEY_RING)()
        key = box.decrypt(
            device.key_encrypted, context=f"accounts_authenticatorapp:{device.uid}:key"
        )
        TOTPDevice.objects.create(
            user_id=device.user_id,
            name=device.name,
            confirmed=device.confirmed,
            key=key,
            step=device.step,
            t0=device.t0,
            digits=device.digits,
            tolerance=device.tolerance,
            drift=device.drift,
            last_t=device.last_t,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_api_key_events"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuthenticatorApp",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="The human-readable name of this device.", max_length=64
                    ),
                ),
                (
                    "confirmed",
                    models.BooleanField(default=True, help_text="Is this device ready for use?"),
                ),
                (
                    "throttling_failure_timestamp",
                    models.DateTimeField(
                        blank=True,
                        default=None,
                        help_text="A timestamp of the last failed verification attempt. Null if last attempt succeeded.",
                        null=True,
                    ),
                ),
                (
                    "throttling_failure_count",
                    models.PositiveIntegerField(
                        default=0, help_text="Number of successive failed attempts."
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="The date and time when this device was initially created in the system.",
                        null=True,
                    ),
                ),
                (
                    "last_used_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The most recent date and time this device was used.",
                        null=True,
                    ),
                ),
                ("uid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("key_encrypted", models.TextField(editable=False)),
                ("step", models.PositiveSmallIntegerField(default=30)),
                ("t0", models.BigIntegerField(default=0)),
                ("digits", models.PositiveSmallIntegerField(default=6)),
                ("tolerance", models.PositiveSmallIntegerField(default=1)),
                ("drift", models.SmallIntegerField(default=0)),
                ("last_t", models.BigIntegerField(default=-1)),
                (
                    "user",
                    models.ForeignKey(
                        help_text="The user that this device belongs to.",
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "authenticator app",
                "abstract": False,
            },
        ),
        migrations.RunPython(carry_over, carry_back),
    ]
