# microcred — two commands do everything: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install browser run test test-fast bench compile migrate clean

install: $(PY_STAMP) $(NODE_STAMP) browser

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser).
# Best effort: without root or apt the browser test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: the browser test will be skipped"

$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## run: the whole system on the embedded default (local anvil + SQLite), demo credential URL printed
run: install
	$(PY) -m services.ops.devstack

## test: every test (unit, integration on anvil + SQLite + PostgreSQL, e2e over HTTP)
test: install
	$(PY) -m pytest -q

## test-fast: the pure unit tests only
test-fast: install
	$(PY) -m pytest -q tests/unit

## bench: the benchmarks in bench/ (not tests)
bench: install
	$(PY) -m bench

## compile: recompile contracts/ into the committed artifact
compile: $(NODE_STAMP)
	node contracts/compile.js

migrate: install
	$(PY) -m services.ops.migrate

clean:
	rm -rf $(VENV) node_modules .data .pytest_cache .hypothesis
