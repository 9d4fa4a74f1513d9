# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install dev lint bench postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	$(BIN)/commstat demo

lint: dev
	$(BIN)/ruff check bot handlers storage tests scripts $(wildcard bench)
	$(BIN)/ruff format --check bot handlers storage tests scripts $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

# Starts (or reuses) a throwaway PostgreSQL when it can, so the PostgreSQL tests run too; without
# one they are skipped with a reason — except under CI=true, where that is a failure.
test: lint
	@eval "$$(.ci/postgres.sh 2>/dev/null || true)"; $(BIN)/pytest $(PYTEST_ARGS)

bench: dev
	$(BIN)/python -m bench

# Start a throwaway local PostgreSQL so the PostgreSQL tests run too:  eval "$$(make -s postgres)"
postgres:
	@.ci/postgres.sh
