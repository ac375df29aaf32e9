#!/usr/bin/env bash
# `make demo`: the whole product on its embedded defaults (SQLite, a filesystem broker, the
# Copernica sandbox), with a web server, a sync worker, a write-back worker, a notifications
# worker and beat. Ctrl-C stops everything.
# The app's database and the sandbox's state (var/sandbox.json) survive a restart together;
# `make demo-reset` (scripts/demo.sh --reset) deletes both, and the broker's folders, first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/path.sh
# The settings keep the database, the broker and the key in LINKER_VAR_DIR (default var/).
VAR="${LINKER_VAR_DIR:-var}"

if [ "${1:-}" = "--reset" ]; then
  # Together or not at all: links in the database name accounts and tokens of the sandbox.
  rm -rf "$VAR"/linker.sqlite3 "$VAR"/linker.sqlite3-wal "$VAR"/linker.sqlite3-shm \
    "$VAR"/sandbox.json "$VAR"/broker "$VAR"/broker-processed "$VAR"/broker-control \
    "$VAR"/celerybeat-schedule
  echo "Demo reset: the database, the sandbox's state and the broker's queues are gone."
fi

HOST="${DEMO_HOST:-127.0.0.1}"
PORT="${DEMO_PORT:-8000}"
SANDBOX_PORT="${DEMO_SANDBOX_PORT:-8765}"
EMAIL="demo@example.com"
PASSWORD="copernica-demo"

scripts/bootstrap.sh
# The demo runs on the embedded defaults whatever this shell has exported.
unset DATABASE_URL REDIS_URL DJANGO_ENV DJANGO_SECRET_KEY LINKER_ENCRYPTION_KEYS
export DJANGO_ENV=development
# People see the product's own error pages, not Django's debug pages (whitenoise serves the
# static files either way).
export DJANGO_DEBUG=false
export DJANGO_ALLOWED_HOSTS="$HOST,127.0.0.1,localhost"
export COPERNICA_SANDBOX_URL="http://$HOST:$SANDBOX_PORT"
# Links in emails (invitations, notices) point at this demo, whatever port it runs on.
export LINKER_BASE_URL="http://$HOST:$PORT"
# Copernica's webhooks come from the sandbox here: trust its signing keys (only in the demo).
export LINKER_WEBHOOK_KEY_HOSTS="*.copernica.com,$HOST:$SANDBOX_PORT"
# Every email -- sent by the web process or by a worker -- as one file in one folder.
export DJANGO_EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend
export DJANGO_EMAIL_FILE_PATH="$VAR/mail"
mkdir -p "$VAR/log"

pids=()
# Each background service runs in a process group of its own, so that stopping the demo stops
# the uv wrapper, celery and its pool processes together.
background() { setsid "$@" & pids+=($!); }
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

background uv run --frozen python -m api_client.sandbox --host "$HOST" --port "$SANDBOX_PORT" \
  --state "$VAR/sandbox.json" >"$VAR/log/sandbox.log" 2>&1

sandbox_up=0
for _ in $(seq 100); do
  curl -fsS "http://$HOST:$SANDBOX_PORT/__sandbox__/health" >/dev/null 2>&1 && sandbox_up=1 && break
  sleep 0.1
done
if [ "$sandbox_up" = 0 ]; then
  echo "The sandbox did not start; $VAR/log/sandbox.log says:" >&2
  tail -n 5 "$VAR/log/sandbox.log" >&2
  exit 1
fi
uv run --frozen python manage.py migrate --noinput -v0
uv run --frozen python manage.py demo_setup --email "$EMAIL" --password "$PASSWORD" \
  --redirect-uri "http://$HOST:$PORT/oauth/callback"

# Syncs, write-back and emails on workers of their own (one per queue, as in production), so a
# change or a notice never waits behind a sync step; the sync workers at a lower CPU priority,
# so a long sync on a small machine does not slow down a user's change.
background nice -n 10 uv run --frozen celery -A linker worker -Q default -n sync@%h --concurrency 2 \
  --loglevel INFO >"$VAR/log/worker.log" 2>&1
background uv run --frozen celery -A linker worker -Q writes -n writes@%h --concurrency 1 \
  --loglevel INFO >"$VAR/log/writer.log" 2>&1
background uv run --frozen celery -A linker worker -Q notifications -n notifications@%h \
  --concurrency 1 --loglevel INFO >"$VAR/log/notifier.log" 2>&1
background uv run --frozen celery -A linker beat --loglevel INFO --schedule "$VAR/celerybeat-schedule" \
  >"$VAR/log/beat.log" 2>&1

cat <<TXT

  Copernica Linker demo is running.

    Open:      http://$HOST:$PORT/
    Log in:    $EMAIL   (agency admin: the dashboard of every client)
    Password:  $PASSWORD
    Or:        partner@example.com / $PASSWORD   (a client's own admin: one tenant)

    Try: the dashboard ("Needs me" shows the bakery that must reconnect), open
    "Tuincentrum Groen" -> Connect Copernica -> Allow -> Sync now (live progress),
    Browse profiles -> edit one -> watch it go queued -> done; Disconnect.
    Emails (invites, notices, from the web and the workers): one file each in $VAR/mail/

    Sandbox:   http://$HOST:$SANDBOX_PORT/   (the simulated Copernica's console: accounts,
               tokens to revoke, faults to inject)
    Logs:      $VAR/log/ (sandbox, worker, writer, notifier, beat)
    Data:      kept across restarts ($VAR/); \`make demo-reset\` starts over.

  Press Ctrl-C to stop.

TXT
uv run --frozen python manage.py runserver "$HOST:$PORT" --noreload
