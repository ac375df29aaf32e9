"""Every task name the services enqueue is a task the workers run, and the settings name only
those."""

from __future__ import annotations

import importlib

from django.conf import settings

from linker.celery import app
from linker.platform.delivery import Task


def _registered() -> set[str]:
    # What a worker does at start: import the modules the app includes (every domain's tasks).
    for module in app.conf.include:
        importlib.import_module(module)
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_task_name_is_a_registered_task() -> None:
    registered = _registered()
    assert {task.value for task in Task} <= registered


def test_every_registered_task_has_a_name_in_the_enum() -> None:
    registered = _registered()
    assert registered <= {task.value for task in Task}


def test_the_beat_schedule_and_the_routes_name_only_known_tasks() -> None:
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    names |= set(settings.CELERY_TASK_ROUTES)
    assert names
    assert names <= {task.value for task in Task}
