# StopHacking: the two commands of the README are `make workbench` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5006
DURATION ?=
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup browser atop workbench test test-fast test-integration test-e2e lint format demo bench soak clean

# Idempotent: the venv is rebuilt only when environment.yml or pyproject.toml change;
# the jars are resolved only once (stophacking setup checks its own cache marker).
$(BIN)/.installed: environment.yml pyproject.toml tools/requirements.py
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (python3.11 or python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$$(sed -nE 's/^ *- (pyyaml==[0-9.]+) *$$/\1/Ip' environment.yml)"
	$(BIN)/python tools/requirements.py environment.yml > $(VENV)/requirements.txt
	$(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/.installed
	@command -v java >/dev/null || { echo "Java 17+ is required (java not on PATH)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required once to fetch jars (mvn not on PATH)"; exit 1; }
	$(BIN)/stophacking setup

workbench: setup
	@echo "Opening the workbench at http://$(HOST):$(PORT)/workbench (Ctrl-C stops it and everything it started)"
	$(BIN)/panel serve workbench --address $(HOST) --port $(PORT) \
		--allow-websocket-origin $(HOST):$(PORT) --allow-websocket-origin localhost:$(PORT)

# The browser tests drive the system Chromium (installed from Debian's packages if missing).
browser:
	@tools/ensure-package.sh "$${STOPHACKING_CHROMIUM:-/usr/bin/chromium}" chromium \
		"The browser tests" "or set STOPHACKING_CHROMIUM to its path"

# The agent's tests compare it with atop itself (installed from Debian's packages if missing).
atop:
	@tools/ensure-package.sh atop atop "The agent's tests"

test: setup browser atop
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup atop
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup browser
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# Headless, bounded end-to-end run (broker, producers, live pipelines, detector) and a
# summary; its state lives in .stophacking/demo and its topics carry the run id.
demo: setup
	$(BIN)/stophacking demo $(if $(DURATION),--duration $(DURATION)) $(DEMO_ARGS)

# Throughput and latency on this machine (never part of `make test`; run it on an idle
# machine, about 20 minutes): writes docs/benchmarks.md and docs/benchmarks.json.
# BENCH_ARGS=--quick runs each benchmark briefly (a smoke test of the commands).
BENCH_ARGS ?=
bench: setup
	$(BIN)/stophacking bench all $(BENCH_ARGS)

# Memory over half an hour (never part of `make test`, about 35 minutes): the workbench's
# whole pipeline at the brief's cadence with one browser page open; writes docs/soak.json
# and docs/images/soak-memory.png and prints the table docs/reliability.md quotes.
SOAK_ARGS ?=
soak: setup browser
	$(BIN)/python tools/soak.py $(SOAK_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check pipelines workbench tests tools
	$(BIN)/ruff format --check pipelines workbench tests tools
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff check --fix pipelines workbench tests tools
	$(BIN)/ruff format pipelines workbench tests tools

clean:
	rm -rf $(VENV) .stophacking .pytest_cache .mypy_cache .ruff_cache
