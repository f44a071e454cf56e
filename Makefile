# Bastion — every target is listed by `make help`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
OIDC := tests/oidc
OIDC_STAMP := $(OIDC)/node_modules/.installed
# pip says only what failed (-qq hides its deprecation notices) and never asks to upgrade itself.
PIP_QUIET := -qq --disable-pip-version-check
# pytest-xdist processes for `make test` and `make pytest`: auto is one per core, 0 runs the
# tests in pytest's own process (see CONTRIBUTING.md).
PYTEST_WORKERS ?= auto

.DEFAULT_GOAL := help
.PHONY: help run test lint format typecheck deps pytest migrate simulate bench graph-schema lock clean

help: ## List every target
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Bastion needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install $(PIP_QUIET) -c constraints.txt -e .
	@touch $@

$(DEV_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/pip install $(PIP_QUIET) -c constraints.txt -e '.[dev]'
	@touch $@

# The test OpenID Provider (oidc-provider) for the single sign-on tests; without npm they skip.
$(OIDC_STAMP): $(OIDC)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(OIDC) --quiet --no-audit --no-fund && touch $@; \
	else \
		echo "npm is not on PATH: the single sign-on tests will be skipped"; \
	fi

run: $(STAMP) ## Set up and start Bastion on its embedded default (SQLite, simulator, seeded directory)
	$(BIN)/bastion demo

test: $(DEV_STAMP) $(OIDC_STAMP) ## Set up and run every check: ruff, mypy --strict, deptry, pytest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/deptry .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

lint: $(DEV_STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP) ## Rewrite the code with ruff format and the safe ruff fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(DEV_STAMP) ## mypy --strict on bastion/
	$(BIN)/mypy

deps: $(DEV_STAMP) ## deptry: every import is a declared dependency, every dependency is used
	$(BIN)/deptry .

pytest: $(DEV_STAMP) $(OIDC_STAMP) ## Only the test suite (ARGS="-k name" narrows it, PYTEST_WORKERS=0 runs it in one process)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(ARGS)

migrate: $(STAMP) ## Upgrade the configured database to the newest migration
	$(BIN)/bastion migrate

simulate: $(STAMP) ## Start the Meta Graph API simulator on port 8765
	$(BIN)/bastion simulate meta

bench: $(DEV_STAMP) ## Run every benchmark in benchmarks/ and print its table
	@for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

graph-schema: $(DEV_STAMP) ## Regenerate bastion/connectors/meta/schema/graph_schema.json from Meta's SDK
	$(BIN)/python scripts/generate_graph_schema.py

lock: $(BIN)/python ## Re-resolve every dependency and rewrite constraints.txt
	$(BIN)/pip install --quiet --upgrade -e '.[dev]'
	$(BIN)/pip freeze --exclude-editable --exclude bastion > constraints.txt

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
