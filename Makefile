# The two commands: `make demo` and `make test`. See README.md.
.PHONY: demo test bench lint format check-deploy clean

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

bench:
	@scripts/bench.sh

lint:
	uv run ruff check . && uv run ruff format --check . && uv run mypy

format:
	uv run ruff format . && uv run ruff check --fix .

clean:
	rm -rf var staticfiles test-artifacts
