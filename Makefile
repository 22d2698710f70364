# The two commands README promises; each does its own set-up first.
.PHONY: demo test setup lint

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/opencwm demo

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check src tests benchmarks
