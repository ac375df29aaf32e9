#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its figures next to its baseline and each goal
# with met / not met. Every bench merges its figures into var/bench.json (one object per
# figure: bench/report.py); the previous run's file is kept as var/bench.previous.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/path.sh

scripts/bootstrap.sh
eval "$(scripts/services.sh)"
export DJANGO_ENV=test
# A Redis database of its own: the test suite flushes database 9 when it starts.
export REDIS_URL="${REDIS_URL%/*}/13"

mkdir -p var
if [ -f var/bench.json ]; then
  mv var/bench.json var/bench.previous.json
fi

failed=()
for bench in client_bench link_bench schedule_bench dashboard_bench writeback_bench api_bench \
  sync_bench subprofile_bench reconcile_bench browser_bench webhook_bench webhook_out_bench; do
  if [ -f "bench/$bench.py" ]; then
    echo
    echo "=== $bench"
    # One bench failing still leaves the others' figures, and the summary below says so.
    uv run --frozen python "bench/$bench.py" || failed+=("$bench")
  fi
done

uv run --frozen python bench/report.py || true
if [ ${#failed[@]} -gt 0 ]; then
  echo "Failed: ${failed[*]}" >&2
  exit 1
fi
