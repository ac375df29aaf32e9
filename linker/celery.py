"""The Celery application: ``celery -A linker worker`` and ``celery -A linker beat``.

Configuration lives in Django settings under the ``CELERY_`` namespace. Each domain folder owns
its ``tasks.py``; they are listed here by name (not imported), and services reach them only by
task name through :mod:`linker.platform.delivery`.
"""

from __future__ import annotations

import gc
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linker.settings")

TASK_MODULES = (
    "linker.platform.tasks",
    "linker.linking.tasks",
    "linker.sync.tasks",
    "linker.profiles.tasks",
    "linker.notifications.tasks",
    "linker.inbound.tasks",
    "linker.outbound.tasks",
)

app = Celery(
    "linker",
    task_cls="celery.contrib.django.task:DjangoTask",
    include=list(TASK_MODULES),
)
app.config_from_object("django.conf:settings", namespace="CELERY")


@worker_init.connect
def _check_keys(**kwargs: object) -> None:
    # Imported here: this module loads before Django's apps are ready, and the key check
    # reads models.
    from linker.platform.keys import require_usable_keys

    require_usable_keys()


@worker_process_init.connect
def heap_freeze(**kwargs: object) -> None:
    """Move every object a worker process holds when it starts out of the garbage collector's
    reach (``gc.freeze``).

    They live as long as the process: Django, the app's modules, Celery. A full collection
    walked them all, with every thread of the process stopped meanwhile: ~90 ms each, two or
    three in a sync of 50,000 profiles (the page thread allocates a dict per row), up to a
    seventh of that run. Collections now walk what tasks allocated since.
    """
    gc.freeze()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**kwargs: object) -> None:
    # Celery's Django fixup would close the database connection around every task (unless
    # CELERY_DB_REUSE_MAX says otherwise, see linker.settings.workers): a new PostgreSQL
    # backend per task cost a small sync run ~10 ms of its ~60. Django's rule for requests
    # instead: keep it for CONN_MAX_AGE, and drop one that broke or was left in a transaction.
    close_old_connections()
