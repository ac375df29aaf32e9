"""The Django project of Copernica Linker and its domain, folder by folder (see
docs/architecture.md)."""

from linker.celery import app as celery_app

__all__ = ["celery_app"]
