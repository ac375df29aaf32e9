"""Settings for Copernica Linker, read from the environment (django-environ).

With no environment at all the project runs on its embedded defaults (SQLite, a filesystem
broker, a local cache, the Copernica sandbox): that is what ``make demo`` uses. With
``DJANGO_ENV=production`` every secret must come from the environment; a missing one stops
the process with one line naming it. Every variable read here is listed in ``.env.example``.

The settings are split by what they are about; each module imports from the ones before it
what it needs, and this one gathers them all (Django reads their upper-case names from here):
``base`` (environment, core, database, Redis, static files, security headers), ``auth``,
``api``, ``copernica``, ``encryption``, ``workers`` (Celery, syncs, write-back), ``webhooks``
and ``operations`` (metrics, email, logging).
"""

from linker.settings.api import *  # noqa: F403
from linker.settings.auth import *  # noqa: F403
from linker.settings.base import *  # noqa: F403
from linker.settings.copernica import *  # noqa: F403
from linker.settings.encryption import *  # noqa: F403
from linker.settings.operations import *  # noqa: F403
from linker.settings.webhooks import *  # noqa: F403
from linker.settings.workers import *  # noqa: F403
