# lambdabox — `make run` starts the server with a demo function; `make test` runs lint, types and tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# the AWS SDK sets functions get without packaging them (lambdabox serve finds them here by default)
RUNTIME_SDK_DIR := $(VENV)/share/lambdabox/runtime-sdk
RUNTIME_SDK_PINS := runtime-sdk/python/requirements.txt runtime-sdk/nodejs/package.json \
	runtime-sdk/nodejs/package-lock.json scripts/install-runtime-sdks.sh
PYTEST_ARGS ?=

.PHONY: run test lint types pytest tools bench bench-http-api-vs-offline clean

$(STAMP): pyproject.toml scripts/install-system-packages.sh $(RUNTIME_SDK_PINS)
	@echo "==> creating $(VENV) and installing lambdabox with its test dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	bash scripts/install-system-packages.sh
	@echo "==> installing the AWS SDKs bundled for functions into $(RUNTIME_SDK_DIR)"
	PYTHON=$(BIN)/python bash scripts/install-runtime-sdks.sh $(RUNTIME_SDK_DIR)
	@touch $@

# serves examples/express-http-api (its node_modules come from `tools`) and the demo function 'hello'
run: $(STAMP) tools
	$(BIN)/lambdabox up -f examples/express-http-api/serverless.yml --demo

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

# not part of make test: installs serverless@3 + serverless-offline@13 (~280 MB) on first run
bench-http-api-vs-offline: $(STAMP) tools
	@command -v wrk >/dev/null || { echo "==> installing wrk (apt-get)"; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python benchmarks/http_api_vs_offline.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
