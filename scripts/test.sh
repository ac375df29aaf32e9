#!/usr/bin/env bash
# `make test`: install, make sure PostgreSQL and Redis answer, lint, type-check, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/path.sh

scripts/bootstrap.sh --with-browser
eval "$(scripts/services.sh)"
export DJANGO_ENV=test

echo "== ruff check" && uv run --frozen ruff check .
echo "== ruff format --check" && uv run --frozen ruff format --check .
echo "== mypy" && uv run --frozen mypy
echo "== import-linter" && uv run --frozen lint-imports --no-cache
echo "== pytest"
uv run --frozen pytest "$@"
