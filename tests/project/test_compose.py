"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _settings_variables() -> set[str]:
    source = "".join(path.read_text() for path in (ROOT / "linker" / "settings").glob("*.py"))
    return set(re.findall(r"env\.[a-z_]+\(\s*\"([A-Z0-9_]+)\"", source))


def _example_variables() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z0-9_]+=", line)}


def _entry_point_problem(command: list[str]) -> str | None:
    if command[:2] == ["nice", "-n"] and command[2].isdigit():
        command = command[3:]  # a lower CPU priority (the sync workers)
    program, *args = command
    if program == "gunicorn":
        module, _, attribute = args[0].partition(":")
        if not hasattr(importlib.import_module(module), attribute):
            return f"{args[0]} has no {attribute}"
    elif program == "celery":
        if args[:2] != ["-A", "linker"] or args[2] not in {"worker", "beat"}:
            return f"unexpected celery command {args}"
        if not hasattr(importlib.import_module("linker"), "celery_app"):
            return "linker exposes no celery_app"
    elif program == "python" and args[0] == "-m":
        if importlib.util.find_spec(args[1]) is None:
            return f"no module {args[1]}"
    elif program == "python" and args[0] == "manage.py":
        if args[1] not in get_commands():
            return f"no management command {args[1]}"
    elif program not in {"redis-server"}:
        return f"unknown program {program}"
    return None


def test_every_setting_is_documented_in_env_example() -> None:
    assert _settings_variables() - _example_variables() == set()


def test_env_example_lists_only_variables_something_reads() -> None:
    assert _example_variables() - _settings_variables() - COMPOSE_ONLY == set()


@pytest.mark.parametrize("service", sorted(_compose()["services"]))
def test_service_command_names_a_real_entry_point(service: str, db: None) -> None:
    definition = _compose()["services"][service]
    command = definition.get("command")
    if command is None:
        assert "image" in definition
        return
    assert _entry_point_problem(command) is None


def test_app_services_pass_only_variables_the_settings_read() -> None:
    readable = _settings_variables()
    for name, definition in _compose()["services"].items():
        environment = definition.get("environment") or {}
        if definition.get("image", "").startswith(("postgres", "redis")):
            continue
        assert set(environment) <= readable, name
        assert definition.get("env_file") in (".env", [], None), name


def test_stack_has_the_production_services_with_health_checks() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "web", "worker", "writer", "beat", "sandbox"} <= set(services)
    for name in ("postgres", "redis", "web", "worker", "writer", "sandbox"):
        assert "healthcheck" in services[name], name
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    assert "noeviction" in redis_command


def test_no_secret_is_baked_into_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "DJANGO_SECRET_KEY" not in text
    assert "LINKER_ENCRYPTION_KEYS" not in text
    assert re.search(r"POSTGRES_PASSWORD:\s*\$\{", text)
