# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install dev lint bench postgres postgres-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installed once, and again only when pyproject.toml changes (`make demo` does not reinstall).
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

dev: $(VENV)/.dev-installed
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: install
	$(BIN)/commstat demo

lint: dev
	$(BIN)/ruff check bot handlers storage tests scripts $(wildcard bench)
	$(BIN)/ruff format --check bot handlers storage tests scripts $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

# The tests run on several processes (pytest-xdist). --dist loadfile keeps a module's tests on one
# worker, where they share the module's served app (tests/conftest.py); --no-loadscope-reorder
# hands modules out in file order, so the long scheduler and Socket Mode modules start early and
# the short unit modules even out the end. Three workers on a two-core machine: several tests
# spend seconds waiting (retries, reconnects, subprocesses), and the third worker uses that time.
PYTEST_WORKERS ?= 3
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Starts (or reuses) a throwaway PostgreSQL when it can, so the PostgreSQL tests run too, and stops
# it at the end if this run started it (one started by .ci/run or `make postgres` is left running).
# Without one the PostgreSQL tests are skipped with a reason — except under CI=true, where that is
# a failure.
test: lint
	@unset COMMSTAT_TEST_POSTGRES_STARTED; \
	eval "$$(.ci/postgres.sh 2>/dev/null || true)"; \
	started=$${COMMSTAT_TEST_POSTGRES_STARTED:-}; \
	trap '[ -z "$$started" ] || PGDATA_TEST="$$started" .ci/postgres.sh stop 2>/dev/null' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

bench: dev
	$(BIN)/python -m bench

# Start a throwaway local PostgreSQL so the PostgreSQL tests run too:  eval "$$(make -s postgres)"
# (it keeps running for the next runs; `make postgres-stop` stops it and deletes its folder).
postgres:
	@.ci/postgres.sh

postgres-stop:
	@.ci/postgres.sh stop
