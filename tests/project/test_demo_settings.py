"""The demo's settings: DEBUG off on the embedded defaults, static files served by whitenoise,
the product's own 403/404/500 pages, and SQLite set up for concurrent processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.views.csrf import csrf_failure
from django.views.defaults import page_not_found, permission_denied, server_error

ROOT = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = ROOT / "scripts" / "demo.sh"

# What scripts/demo.sh runs the web server, the workers and beat with (checked below).
_PROBE = """
from django.conf import settings
from django.db import connection
from django.test import Client

client = Client(HTTP_HOST="127.0.0.1:8200")
print("DEBUG", settings.DEBUG)
print("static", client.get("/static/css/app.css").status_code)
missing = client.get("/no-such-page/")
print("missing", missing.status_code, b"Using the URLconf" in missing.content)
with connection.cursor() as cursor:
    print("journal", cursor.execute("PRAGMA journal_mode").fetchone()[0])
    print("busy", cursor.execute("PRAGMA busy_timeout").fetchone()[0])
print("mode", connection.transaction_mode)
from django.core.mail import send_mail
import os
send_mail("Probe", "One place for every email.", None, ["someone@example.com"])
print("mail", len(os.listdir(settings.EMAIL_FILE_PATH)))
"""


def _demo_environment(var_dir: Path) -> dict[str, str]:
    """The environment scripts/demo.sh exports, read from the script itself."""
    script = DEMO_SCRIPT.read_text()
    exported = dict(re.findall(r'^export (DJANGO_[A-Z_]+)="?([^"\n]*)"?$', script, re.M))
    assert exported["DJANGO_ENV"] == "development"
    exported["DJANGO_ALLOWED_HOSTS"] = exported["DJANGO_ALLOWED_HOSTS"].replace(
        "$HOST", "127.0.0.1"
    )
    exported["DJANGO_EMAIL_FILE_PATH"] = exported["DJANGO_EMAIL_FILE_PATH"].replace(
        "$VAR", str(var_dir)
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LINKER_"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    return {**clean, **exported, "LINKER_VAR_DIR": str(var_dir)}


def test_the_demo_runs_with_debug_off_and_still_serves_static_files_on_sqlite(
    tmp_path: Path,
) -> None:
    env = _demo_environment(tmp_path)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    probe = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    answers = dict(
        re.findall(r"^(DEBUG|static|missing|journal|busy|mode|mail) (.*)$", probe.stdout, re.M)
    )
    assert answers == {
        "DEBUG": "False",
        "static": "200",
        "missing": "404 False",
        "journal": "wal",
        "busy": "30000",
        "mode": "IMMEDIATE",
        "mail": "1",  # web and workers write every email into one folder the banner names
    }
    assert (tmp_path / "mail").is_dir()


def test_the_error_pages_are_the_products_own() -> None:
    request = RequestFactory().get("/somewhere/")
    not_found = page_not_found(request, Http404("no such thing"))
    assert not_found.status_code == 404
    assert b"Not found" in not_found.content
    assert b"Copernica Linker" in not_found.content

    forbidden = permission_denied(request, PermissionDenied())
    assert forbidden.status_code == 403
    assert b"Not allowed" in forbidden.content
    assert b"Copernica Linker" in forbidden.content

    # The 500 page is rendered without a request or any context (the failure may be anywhere).
    failed = server_error(request)
    assert failed.status_code == 500
    assert b"Something went wrong on our side" in failed.content
    assert b'href="/static/css/app.css"' in failed.content
    assert b"Traceback" not in failed.content

    refused = csrf_failure(request, reason="Origin checking failed - null does not match")
    assert refused.status_code == 403
    assert b"This form could not be sent" in refused.content
    assert b"Origin checking failed" not in refused.content
