# airflow-otel-listener: every target does its own set-up (venv, pip, Go builds, apt) and can
# run on a fresh machine. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: help install test test-unit test-integration lint format demo clean bench

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

install: $(STAMP) ## create .venv and install the plugin (editable) with dev tools

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## apply ruff formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install lint ## everything: lint, unit, real Airflow, real stack (builds what is missing)
	$(PY) -m pytest -q

test-unit: install ## unit tests only (no servers)
	$(PY) -m pytest -q tests/unit

test-integration: install ## real Airflow tests only
	$(PY) -m pytest -q tests/integration

demo: install stack-build ## stack + real Airflow + example DAGs; prints where to look
	$(PY) scripts/demo.py

BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

# The OpenLineage provider goes only into the bench venv: its listener would change every other test.
$(BENCH_STAMP): pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e . "apache-airflow==$$($(PY) -c 'from importlib.metadata import version; print(version("apache-airflow"))')" apache-airflow-providers-openlineage
	@rm -f $(BENCH_VENV)/.installed-* && touch $@

bench: install stack-build $(BENCH_STAMP) ## benchmarks side by side with the peers (BENCH_QUICK=1: short); table + bench-results/
	$(BENCH_VENV)/bin/python benchmarks/run.py

clean: stack-down ## remove the venv and local state (build caches outside the repo stay)
	rm -rf $(VENV) $(BENCH_VENV) .stack .airflow-demo build dist *.egg-info

include stack.mk
