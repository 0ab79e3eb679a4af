# Hyoka — the two commands: `make run` and `make test` (and `make lint` before committing).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := app

.PHONY: run test test-fast lint venv deps test-deps node-deps sysdeps sysdeps-test bench clean

run: sysdeps deps  ## install everything, migrate, load the demo, start on http://127.0.0.1:$(PORT) with `flask tick` every minute
	$(BIN)/flask db upgrade
	HYOKA_ENV=development $(BIN)/flask demo load
	@$(BIN)/flask demo accounts
	@echo "Hyoka: http://127.0.0.1:$(PORT)/  (公開ページ: http://127.0.0.1:$(PORT)/public/)"
	HYOKA_ENV=development HYOKA_BASE_URL=$${HYOKA_BASE_URL:-http://127.0.0.1:$(PORT)} scripts/run_with_tick.sh $(BIN) run --host 127.0.0.1 --port $(PORT)

test: sysdeps-test test-deps node-deps  ## install test dependencies and run the whole suite (SQLite, and PostgreSQL when HYOKA_TEST_POSTGRES_URL is set)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-fast: test-deps  ## the suite without the browser tests
	$(BIN)/python -m pytest -n 2 -m "not e2e" $(PYTEST_ARGS)

lint: test-deps  ## ruff (lint and format check) and mypy on the pure modules ([tool.mypy] files)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Hyoka needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(VENV)/.deps $@

# the browser tests' own tools from npm (axe-core, pinned in package-lock.json); not the app's
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

deps: $(VENV)/.deps
test-deps: $(VENV)/.test-deps
node-deps: node_modules/.package-lock.json

sysdeps:
	@scripts/sysdeps.sh run

sysdeps-test:
	@scripts/sysdeps.sh test

bench: test-deps  ## benchmarks: print figures with their baselines
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache node_modules
