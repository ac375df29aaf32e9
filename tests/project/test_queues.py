"""Syncs, write-back and notifications on queues of their own (issue 16), each with a worker in
docker-compose and in the demo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from linker.celery import app
from linker.platform.delivery import Task

ROOT = Path(__file__).resolve().parents[2]
QUEUE_OF = {
    Task.SYNC_RUN_STEP: "default",
    Task.SYNC_SCHEDULE_DUE: "default",
    Task.SYNC_RUNS_RECONCILE: "default",
    Task.LINK_VERIFY_DUE: "default",
    Task.LINK_VERIFY: "default",
    Task.PROFILE_CHANGE_SEND: "writes",
    Task.PROFILE_CHANGES_RELEASE: "writes",
    Task.PROFILE_CHANGES_RELAY: "writes",
    Task.NOTIFICATIONS_SCAN: "notifications",
    Task.NOTIFICATIONS_DIGEST: "notifications",
}


@pytest.mark.parametrize("task", sorted(QUEUE_OF))
def test_each_task_goes_to_the_queue_of_its_kind(task: Task) -> None:
    route = app.amqp.router.route({}, task.value)
    assert route["queue"].name == QUEUE_OF[task]


def test_the_queues_are_the_ones_the_settings_list() -> None:
    assert set(QUEUE_OF.values()) == set(settings.LINKER_CELERY_QUEUES)


def _worker_queues(commands: list[list[str]]) -> set[str]:
    queues: set[str] = set()
    for command in commands:
        if "worker" in command and "-Q" in command:
            queues |= set(command[command.index("-Q") + 1].split(","))
    return queues


def test_docker_compose_runs_a_worker_for_every_queue() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    commands = [s["command"] for s in services.values() if isinstance(s.get("command"), list)]
    assert _worker_queues(commands) == set(settings.LINKER_CELERY_QUEUES)


def test_the_demo_runs_a_worker_for_every_queue() -> None:
    script = (ROOT / "scripts" / "demo.sh").read_text().replace("\\\n", " ")
    commands = [line.split() for line in script.splitlines() if re.search(r"celery .*worker", line)]
    assert _worker_queues(commands) == set(settings.LINKER_CELERY_QUEUES)
