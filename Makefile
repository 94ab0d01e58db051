# The two commands a new engineer types: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
export FLASK_APP := myapp

.PHONY: help venv system-packages browser-packages run lint test test-sqlite test-postgres clean

help:
	@echo "make run   - serve on http://127.0.0.1:5000 in development mode"
	@echo "make test  - lint, then the test suite on SQLite and on PostgreSQL"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# Installs only what is missing, with apt-get as root; otherwise says what to install.
system-packages:
	scripts/system-packages.sh redis-server=redis-server pg_ctl=postgresql

# Chromium for the browser test of /docs (tests/test_docs_browser.py), if missing.
browser-packages:
	scripts/system-packages.sh chromium=chromium

run: venv system-packages
	scripts/run-dev.sh

lint: venv
	$(BIN)/black --check .
	$(BIN)/flake8

test: lint test-sqlite test-postgres

test-sqlite: venv system-packages browser-packages
	@echo "=== pytest on SQLite ==="
	$(BIN)/pytest

test-postgres: venv system-packages browser-packages
	@echo "=== pytest on PostgreSQL ==="
	scripts/with-postgres.sh $(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .test-artifacts
