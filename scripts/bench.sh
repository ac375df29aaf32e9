#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its figures next to its baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/path.sh

scripts/bootstrap.sh
eval "$(scripts/services.sh)"
export DJANGO_ENV=test
# A Redis database of its own: the test suite flushes database 9 when it starts.
export REDIS_URL="${REDIS_URL%/*}/13"

for bench in client_bench link_bench sync_bench subprofile_bench reconcile_bench; do
  if [ -f "bench/$bench.py" ]; then
    echo
    echo "=== $bench"
    uv run --frozen python "bench/$bench.py"
  fi
done
