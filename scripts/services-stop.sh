#!/usr/bin/env bash
# Stops the throwaway PostgreSQL and Redis that scripts/services.sh may have started.
set -uo pipefail
state_dir="${LINKER_SERVICES_DIR:-${TMPDIR:-/tmp}/copernica-linker-services}"
if [ -s "$state_dir/pg/PG_VERSION" ]; then
  pg_ctl=$(command -v pg_ctl || ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$pg_ctl" -D "$state_dir/pg" -m fast stop
  else
    "$pg_ctl" -D "$state_dir/pg" -m fast stop
  fi
fi
redis-cli -h 127.0.0.1 -p 56379 shutdown nosave 2>/dev/null || true
