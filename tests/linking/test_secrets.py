"""Secrets at rest and in flight (reliability.md cases 11-16)."""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from api_client.sandbox.control import SandboxControl
from linker.linking.applications import application_secret
from linker.linking.client import client_for, jwt_cache_key, link_token
from linker.linking.errors import LinkNotUsableError
from linker.linking.links import link_disconnect
from linker.models import ApiApplication, Link, LinkState
from linker.platform import vault
from tests.conftest import World
from tests.factories import make_link
from tests.linking.conftest import Linking
from tests.workers import worker_env

ROOT = Path(__file__).resolve().parents[2]


def _all_text_in_database() -> str:
    """Every row of every table, as text: what a database dump would hold."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def _forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]


def test_database_holds_no_token_jwt_or_client_secret(linking: Linking) -> None:
    params = linking.consent(linking.start())
    linking.callback(params)
    link = Link.objects.get()
    token = link_token(link)
    with client_for(link) as client:
        client.identity()
    jwt = client._jwt()
    secret = application_secret(linking.application)
    dump = _all_text_in_database()
    for value in (token, jwt, secret, params["code"]):
        for form in _forms(value):
            assert form not in dump
    # And the JWT cache in Redis holds ciphertext only.
    stored = cache.get(jwt_cache_key(link))
    assert jwt not in str(stored)


def test_equal_tokens_encrypt_to_different_ciphertexts(world: World) -> None:
    a = make_link(tenant=world.tenant_a1, api_token="same-token-0123456789", sandbox_url="http://x")
    b = make_link(tenant=world.tenant_a2, api_token="same-token-0123456789", sandbox_url="http://x")
    assert a.access_token_encrypted != b.access_token_encrypted


def test_ciphertext_copied_to_another_tenant_fails_and_calls_nothing(
    world: World, sandbox: SandboxControl, sandbox_url: str
) -> None:
    account = sandbox.create_account("Shop", profiles=0)
    a = make_link(tenant=world.tenant_a1, api_token=account.api_token, sandbox_url=sandbox_url)
    b = make_link(
        tenant=world.tenant_b1, api_token="other-token-0123456789", sandbox_url=sandbox_url
    )
    Link.objects.filter(pk=b.pk).update(access_token_encrypted=a.access_token_encrypted)
    b.refresh_from_db()
    sandbox.reset_stats()
    with pytest.raises(vault.VaultError):
        client_for(b)
    assert sandbox.stats()["auth_calls"] == 0
    assert sandbox.stats()["api_calls"] == 0


def test_decryption_failure_never_returns_ciphertext() -> None:
    ring = vault.keyring()
    sealed = ring.encrypt("secret", context="a")
    with pytest.raises(vault.VaultError) as failure:
        ring.decrypt(sealed, context="b")
    assert sealed not in str(failure.value)
    with pytest.raises(vault.VaultError):
        ring.decrypt(sealed[:-4] + "AAAA", context="a")


def _env(tmp_path: Path, keys: str) -> dict[str, str]:
    env = worker_env(LINKER_ENCRYPTION_KEYS=keys)
    env["LINKER_VAR_DIR"] = str(tmp_path)
    return env


@pytest.mark.django_db(transaction=True)
def test_wrong_or_malformed_key_stops_the_process_with_a_clear_message(
    world: World, tmp_path: Path
) -> None:
    make_link(tenant=world.tenant_a1, api_token="token-0123456789abcdef", sandbox_url="http://x")
    wrong = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default"],
        cwd=ROOT, env=_env(tmp_path, vault.key_generate()), capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert wrong.returncode != 0
    assert "LINKER_ENCRYPTION_KEYS lacks the key" in wrong.stderr
    malformed = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env=_env(tmp_path, "not-a-key"), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert malformed.returncode != 0
    assert malformed.stderr.strip().splitlines() == [
        "Copernica Linker cannot start: LINKER_ENCRYPTION_KEYS: key 1 is not a base64-encoded "
        "32-byte key (make one with `manage.py generate_encryption_key`)."
    ]


@pytest.mark.django_db(transaction=True)
def test_key_rotation_survives_kill_9_and_resumes(world: World, tmp_path: Path) -> None:
    old_key = vault.keyring()
    tokens = {}
    for i in range(60):
        tenant = world.tenant_a1.__class__.objects.create(name=f"T{i}", agency=world.agency_a)
        token = f"token-{i:04d}-abcdefghijklmnop"
        tokens[make_link(tenant=tenant, api_token=token, sandbox_url="http://x").pk] = token
    old_text = ",".join(base64.urlsafe_b64encode(k).decode() for k in old_key.keys)
    new_keys = f"{vault.key_generate()},{old_text}"
    env = _env(tmp_path, new_keys)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "rotate_keys", "--batch-size", "5", "--pause-ms", "200"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for _ in range(3):
        assert "re-encrypted" in proc.stdout.readline()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    status = subprocess.run(
        [sys.executable, "manage.py", "rotate_keys", "--status"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    remaining = int(status.stdout.split("linker.Link.access_token_encrypted: ")[1].split()[0])
    assert 0 < remaining < 60
    subprocess.run(
        [sys.executable, "manage.py", "rotate_keys", "--batch-size", "7"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    new_ring = vault.KeyRing.parse(new_keys.split(","))
    for link in Link.objects.filter(pk__in=tokens):
        assert link.access_token_encrypted.startswith(new_ring.current_prefix())
        assert (
            new_ring.decrypt(
                link.access_token_encrypted, context=f"linker_link:{link.uid}:access_token"
            )
            == tokens[link.pk]
        )


def test_no_secret_in_logs_pages_or_admin(
    linking: Linking, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    params = linking.consent(linking.start())
    linking.callback(params)
    # A failing exchange logs too: it must not carry the secret or the code.
    failed = linking.consent(linking.start())
    linking.sandbox.fault(path="/v4/token", status=503)
    linking.callback(failed)
    link = Link.objects.get()
    token = link_token(link)
    secret = application_secret(linking.application)
    linking.world.staff_a.is_superuser = linking.world.staff_a.is_staff = True
    linking.world.staff_a.save()
    pages = [
        linking.client.get(reverse("tenant_detail", kwargs={"tenant_id": link.tenant_id})),
        linking.client.get(reverse("admin:linker_link_change", args=[link.pk])),
        linking.client.get(
            reverse("admin:linker_apiapplication_change", args=[linking.application.pk])
        ),
        linking.client.get(
            reverse("applications", kwargs={"agency_id": linking.world.agency_a.pk})
        ),
    ]
    text = caplog.text + "".join(p.content.decode() for p in pages)
    assert all(p.status_code == 200 for p in pages)
    for value in (token, secret, params["code"], failed["code"], params["state"]):
        assert value not in text
    assert linking.application.client_secret_fingerprint in pages[2].content.decode()


def test_disconnect_removes_token_and_cached_jwts_and_stops_calls(linking: Linking) -> None:
    linking.callback(linking.consent(linking.start()))
    link = Link.objects.get()
    with client_for(link) as client:
        client.identity()
    old_key = jwt_cache_key(link)
    assert cache.get(old_key) is not None
    link_disconnect(link=link, user=linking.world.staff_a)
    link.refresh_from_db()
    assert link.state == LinkState.DISCONNECTED
    assert link.access_token_encrypted == ""
    assert cache.get(old_key) is None
    linking.sandbox.reset_stats()
    with pytest.raises(LinkNotUsableError):
        client_for(link)
    assert linking.sandbox.stats()["auth_calls"] == 0


def test_disconnect_page_button_works_for_tenant_admin(linking: Linking) -> None:
    linking.callback(linking.consent(linking.start()))
    admin = Client()
    admin.force_login(linking.world.tenant_admin_a1)
    response = admin.post(reverse("disconnect", kwargs={"tenant_id": linking.world.tenant_a1.pk}))
    assert response.status_code == 303
    assert Link.objects.get().state == LinkState.DISCONNECTED
    viewer_client = Client()
    viewer_client.force_login(linking.world.viewer_a1)
    assert ApiApplication.objects.count() == 1
