#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer for the test suite and prints the environment to use.
# Uses the servers on 127.0.0.1 when they answer; otherwise starts throwaway ones under a
# temporary folder (stopped again by scripts/services-stop.sh or at reboot).
# Usage: eval "$(scripts/services.sh)"
set -euo pipefail

state_dir="${LINKER_SERVICES_DIR:-${TMPDIR:-/tmp}/copernica-linker-services}"
mkdir -p "$state_dir"
log() { echo "services: $*" >&2; }

pg_answers() { pg_isready -q -h 127.0.0.1 -p "$1" 2>/dev/null; }
redis_answers() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

pg_bin() {
  local tool=$1
  if command -v "$tool" >/dev/null 2>&1; then command -v "$tool"; return; fi
  ls -d /usr/lib/postgresql/*/bin/"$tool" 2>/dev/null | sort -V | tail -n 1
}

ensure_packages() {
  local missing=()
  [ -n "$(pg_bin initdb)" ] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian's packages"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# LINKER_PRIVATE_SERVICES=1 skips the machine's servers (to exercise the fallback).
private="${LINKER_PRIVATE_SERVICES:-0}"

pg_port=5432
if [ "$private" = 1 ] || ! pg_answers 5432; then
  pg_port=55432
  if ! pg_answers "$pg_port"; then
    ensure_packages
    data="$state_dir/pg"
    as_pg=()
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home "$state_dir" postgres
      chown -R postgres "$state_dir"
      as_pg=(runuser -u postgres --)
    fi
    if [ ! -s "$data/PG_VERSION" ]; then
      log "creating a throwaway PostgreSQL cluster in $data"
      "${as_pg[@]}" "$(pg_bin initdb)" -D "$data" -U postgres --auth=trust >/dev/null
    fi
    log "starting PostgreSQL on 127.0.0.1:$pg_port"
    "${as_pg[@]}" "$(pg_bin pg_ctl)" -D "$data" -l "$data/server.log" -w \
      -o "-h 127.0.0.1 -p $pg_port -k $data -c fsync=off" start >/dev/null
  fi
fi

redis_port=6379
if [ "$private" = 1 ] || ! redis_answers 6379; then
  redis_port=56379
  if ! redis_answers "$redis_port"; then
    ensure_packages
    log "starting a throwaway Redis on 127.0.0.1:$redis_port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" \
      --appendonly no --dir "$state_dir" --logfile "$state_dir/redis.log" >/dev/null
    for _ in $(seq 50); do redis_answers "$redis_port" && break; sleep 0.1; done
  fi
fi

# Names can be overridden so that two suites can run side by side on one machine.
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/${LINKER_DB_NAME:-linker}"
echo "export REDIS_URL=redis://127.0.0.1:$redis_port/${LINKER_REDIS_DB:-9}"
