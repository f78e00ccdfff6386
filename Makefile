# Two commands: `make up` runs the embedded stack with a demo, `make test` runs every test.
# Both create the virtual environment in .venv on first use. `make test-fast` is the inner loop:
# the tests that need no PostgreSQL, browser or product process and take under ~3 s each.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two test processes (pytest-xdist), each module's tests in one: the tests mostly wait on
# servers, so two cores finish the suite in about 9 minutes instead of 15. PARALLEL= runs one.
PARALLEL ?= -n 2 --dist loadfile --no-loadscope-reorder

.PHONY: up test test-fast test-decade lint bench bench-journeys bench-scale bench-backtest chaos soak clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

up: $(BIN)/.installed
	$(BIN)/journeys up

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PARALLEL)

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow and not e2e and not postgres and not browser"

test-decade: $(BIN)/.installed  # one customer through ten simulated years, alone (about 3 minutes; make test lives three)
	$(BIN)/python -m pytest -m decade -s --years 10

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(BIN)/.installed
	$(BIN)/python -m bench.ingest

bench-journeys: $(BIN)/.installed
	$(BIN)/python -m bench.journeys

chaos: $(BIN)/.installed  # kill each part while customers send; the verdict on SQLite, then PostgreSQL
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)
	$(BIN)/python -m bench.chaos --postgres $(CHAOS_ARGS)

soak: $(BIN)/.installed  # an hour at a steady rate: memory, latency and history sampled; soak.png
	$(BIN)/python -m bench.soak --png soak.png $(SOAK_ARGS)

bench-scale: $(BIN)/.installed
	$(BIN)/python -m bench.scale

bench-backtest: $(BIN)/.installed  # journeys backtest on the real CDNOW history; customer-days a second
	$(BIN)/python -m bench.backtest $(BACKTEST_ARGS)

clean:
	rm -rf $(VENV) .journeys .pytest_cache
