"""WSGI entry point for gunicorn: ``gunicorn linker.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linker.settings")

application = get_wsgi_application()

from linker.platform.keys import require_usable_keys  # noqa: E402 - needs Django set up

require_usable_keys()
