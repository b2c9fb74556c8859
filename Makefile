# lambdabox — `make run` starts the server with a demo function; `make test` runs lint, types and tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test lint types pytest tools bench clean

$(STAMP): pyproject.toml scripts/install-system-packages.sh
	@echo "==> creating $(VENV) and installing lambdabox with its test dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	bash scripts/install-system-packages.sh
	@touch $@

run: $(STAMP)
	$(BIN)/lambdabox serve --demo

tools:
	@bash scripts/install-test-tools.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) tools
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint types pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/invoke.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
