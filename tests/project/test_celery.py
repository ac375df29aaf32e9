from __future__ import annotations

import uuid

import pytest
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
