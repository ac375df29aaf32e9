from __future__ import annotations

import gc
import uuid

import pytest
from celery.signals import worker_process_init
from django.conf import settings
from django.core.cache import cache

from linker.celery import app
from linker.platform.tasks import worker_ping
from tests.workers import celery_worker, wait_for


def test_celery_is_configured_for_reliability() -> None:
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility


def test_a_worker_process_freezes_its_starting_heap() -> None:
    """A prefork worker's process moves what it holds at start out of the collector's reach,
    so a full collection during a sync does not walk Django and the app's modules."""
    assert gc.get_freeze_count() == 0
    try:
        worker_process_init.send(sender=None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_tests_run_against_redis_and_postgresql() -> None:
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_executes_a_task_through_redis() -> None:
    with celery_worker():
        nonce = uuid.uuid4().hex
        worker_ping.delay(nonce)
        wait_for(lambda: cache.get(f"worker-ping:{nonce}") == "pong", what="the task")
    assert cache.get(f"worker-ping:{nonce}") == "pong"
