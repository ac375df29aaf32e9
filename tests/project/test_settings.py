"""Production settings refuse to start without their secrets and pass ``check --deploy``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "k3y-" + "x7Qp9vR2sT5uW8yZ1bC4dF6gH0jK3mN" * 2,
    "DATABASE_URL": "postgres://linker@127.0.0.1:5432/linker",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DJANGO_ALLOWED_HOSTS": "linker.example.com",
    "LINKER_ENCRYPTION_KEYS": "",  # filled in by the fixture with a real key
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LINKER_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def production_env() -> dict[str, str]:
    from linker.platform.vault import key_generate

    return {**PRODUCTION_ENV, "LINKER_ENCRYPTION_KEYS": key_generate()}


@pytest.mark.parametrize(
    "variable",
    [
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_ALLOWED_HOSTS",
        "LINKER_ENCRYPTION_KEYS",
    ],
)
def test_production_refuses_to_start_without(variable: str, production_env: dict[str, str]) -> None:
    env = {k: v for k, v in production_env.items() if k != variable}
    result = _manage("check", env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_check_deploy_is_clean_with_production_settings(production_env: dict[str, str]) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_debug(production_env: dict[str, str]) -> None:
    result = _manage("check", env={**production_env, "DJANGO_DEBUG": "true"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG" in result.stderr


def test_embedded_defaults_need_no_environment(tmp_path: Path) -> None:
    result = _manage("check", env={"LINKER_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
