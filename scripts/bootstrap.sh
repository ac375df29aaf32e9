#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: uv, the locked virtualenv and, for the
# browser tests, Debian's chromium. Idempotent and quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/path.sh

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv" >&2
  python3 -m pip install --quiet uv >&2 || python3 -m pip install --quiet --user uv >&2
fi
uv sync --frozen --quiet

if [ "${1:-}" = "--with-browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "bootstrap: installing Debian's chromium for the browser tests" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
