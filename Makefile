# The two commands: `make demo` and `make test`. See README.md.
.PHONY: demo demo-reset test bench chaos lint format clean

demo:
	@scripts/demo.sh

# The demo from scratch: its database, the sandbox's state and the broker's queues, together.
demo-reset:
	@scripts/demo.sh --reset

test:
	@scripts/test.sh

bench:
	@scripts/bench.sh

# The reliability harness: the kill -9 cases at their full count (20 kills of a syncing worker).
chaos:
	@LINKER_CHAOS_KILLS=20 scripts/test.sh tests/sync/test_workers.py -k killed -s

lint:
	uv run ruff check . && uv run ruff format --check . && uv run mypy && uv run lint-imports --no-cache

format:
	uv run ruff format . && uv run ruff check --fix .

clean:
	rm -rf var staticfiles test-artifacts
