"""The shell setup commands: good input creates rows, bad input exits non-zero with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Agency, Membership, Role, Tenant, User

ROOT = Path(__file__).resolve().parents[2]


def test_create_agency_tenant_and_member(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    call_command("create_agency", "Acme Agency")
    agency = Agency.objects.get(slug="acme-agency")
    call_command("create_tenant", "Client One", "--agency", "acme-agency")
    tenant = Tenant.objects.get(name="Client One")
    assert tenant.agency == agency
    monkeypatch.setenv("NEW_PW", "s3cret-enough-pass")
    call_command(
        "add_member", "Ann@Example.com", "--role", "agency_staff", "--agency", "acme-agency",
        "--password-env", "NEW_PW",
    )  # fmt: skip
    user = User.objects.get(email="ann@example.com")
    assert user.check_password("s3cret-enough-pass")
    assert Membership.objects.get(user=user).role == Role.AGENCY_STAFF


def test_add_member_replaces_the_role_in_the_same_scope(db: None) -> None:
    call_command("create_agency", "Acme")
    call_command("add_member", "bob@example.com", "--role", "agency_staff", "--agency", "acme")
    call_command("add_member", "bob@example.com", "--role", "agency_admin", "--agency", "acme")
    assert list(Membership.objects.values_list("role", flat=True)) == [Role.AGENCY_ADMIN]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create_agency", "Acme"], "already exists"),
        (["create_agency", "  "], "needs a name"),
        (["create_tenant", "X", "--agency", "nope"], "No agency with slug 'nope'"),
        (
            ["add_member", "not-an-email", "--role", "agency_staff", "--agency", "acme"],
            "valid email",
        ),
        (
            ["add_member", "a@example.com", "--role", "tenant_admin", "--agency", "acme"],
            "needs a tenant",
        ),
        (["add_member", "a@example.com", "--role", "tenant_admin", "--tenant", "999"], "No tenant"),
    ],
)
def test_bad_arguments_raise_a_readable_error(db: None, args: list[str], message: str) -> None:
    Agency.objects.create(name="Acme", slug="acme")
    with pytest.raises(CommandError, match=message):
        call_command(*args)
    assert not Membership.objects.exists()


def test_bad_arguments_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"LINKER_VAR_DIR": str(tmp_path), "DJANGO_ENV": "development"})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    result = subprocess.run(
        [sys.executable, "manage.py", "create_tenant", "X", "--agency", "missing"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: No agency with slug 'missing'."
