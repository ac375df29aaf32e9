"""The authenticator app's secret is encrypted at rest, bound to its row, and rotated with the
other secrets; devices set up before the change are carried over and keep working."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from accounts.authenticator import AuthenticatorApp
from linker.platform import keys, vault
from tests.accounts.two_factor_codes import OtpClock, app_code, install_otp_clock
from tests.conftest import World
from tests.factories import PASSWORD


@pytest.fixture
def otp_clock(monkeypatch: pytest.MonkeyPatch) -> OtpClock:
    return install_otp_clock(monkeypatch)


def _row_text(device: AuthenticatorApp) -> str:
    table = AuthenticatorApp._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [device.pk])  # noqa: S608
        return " ".join(str(value) for value in cursor.fetchone())


def test_the_secret_is_not_in_the_database_and_codes_still_work(
    world: World, otp_clock: OtpClock
) -> None:
    user = world.agency_admin_a
    client = Client()
    client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    client.get(reverse("two_factor_setup"))
    device = AuthenticatorApp.objects.get(user=user, confirmed=False)
    secret_hex = device.bin_key.hex()

    stored = _row_text(device)
    assert secret_hex not in stored
    assert secret_hex.upper() not in stored
    assert device.key_encrypted.startswith(f"{vault.VERSION}.")

    response = client.post(reverse("two_factor_setup"), {"code": otp_clock.code(device)})
    assert response.status_code == 303
    device.refresh_from_db()
    assert device.confirmed


def test_a_sealed_secret_copied_to_another_device_does_not_open(world: World) -> None:
    mine = AuthenticatorApp.objects.create(user=world.agency_admin_a, name="app")
    theirs = AuthenticatorApp.objects.create(user=world.staff_a, name="app")
    theirs.key_encrypted = mine.key_encrypted
    theirs.save(update_fields=["key_encrypted"])
    theirs.refresh_from_db()
    with pytest.raises(vault.VaultError):
        theirs.bin_key  # noqa: B018
    # A code from the copied secret is refused, never accepted on the wrong row.
    with pytest.raises(vault.VaultError):
        theirs.verify_token(app_code(mine.bin_key, at=time.time()))


def test_the_secret_is_one_of_the_rotated_columns(world: World) -> None:
    AuthenticatorApp.objects.create(user=world.agency_admin_a, name="app")
    assert "accounts.AuthenticatorApp.key_encrypted" in keys.rows_on_old_keys()
    assert keys.rows_on_old_keys()["accounts.AuthenticatorApp.key_encrypted"] == 0


@pytest.fixture
def _every_migration_after() -> Iterator[None]:
    """Leaves the test database as every later test expects it: all migrations applied."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_every_migration_after")
def test_devices_made_before_the_change_are_carried_over_sealed(world: World) -> None:
    """The migration seals every django-otp TOTPDevice's plain secret into an AuthenticatorApp
    (same secret, same drift and last step), then deletes the plain one."""
    user = world.agency_admin_a
    executor = MigrationExecutor(connection)
    # Going back to accounts 0006 also unapplies the migrations of other apps that depend on
    # 0007 (linker 0017 and after); the fixture below applies them all again afterwards.
    executor.migrate([("accounts", "0006_api_key_events")])
    old_apps = executor.loader.project_state(
        [("accounts", "0006_api_key_events"), ("otp_totp", "0003_add_timestamps")]
    ).apps
    plain_key = "3132333435363738393031323334353637383930"
    old_apps.get_model("otp_totp", "TOTPDevice").objects.create(
        user_id=user.pk, name="app", confirmed=True, key=plain_key, drift=1, last_t=42
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("accounts", "0007_authenticator_app")])

    device = AuthenticatorApp.objects.get(user=user)
    assert device.bin_key.hex() == plain_key
    assert (device.confirmed, device.drift, device.last_t) == (True, 1, 42)
    assert plain_key not in _row_text(device)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM otp_totp_totpdevice")
        assert cursor.fetchone()[0] == 0
