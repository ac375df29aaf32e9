"""The Celery application: ``celery -A linker worker`` and ``celery -A linker beat``.

Configuration lives in Django settings under the ``CELERY_`` namespace. Tasks use Celery's
DjangoTask so that ``delay_on_commit`` enqueues only after the surrounding transaction commits:
a worker must never receive the id of a row it cannot yet see.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linker.settings")

app = Celery(
    "linker",
    task_cls="celery.contrib.django.task:DjangoTask",
    include=["linker.link_tasks", "linker.notification_tasks"],
)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _check_keys(**kwargs: object) -> None:
    from linker.startup import require_usable_keys

    require_usable_keys()
