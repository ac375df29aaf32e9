"""The Django project and the linking domain of Copernica Linker."""

from linker.celery import app as celery_app

__all__ = ["celery_app"]
