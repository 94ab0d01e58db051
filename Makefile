# The two commands a new engineer types: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
export FLASK_APP := myapp

.PHONY: help venv system-packages browser-packages run lint test test-sqlite \
	test-postgres test-mariadb clean check-deploy deploy-rehearsal scale-test bench \
	bench-scale

help:
	@echo "make run   - serve on http://127.0.0.1:5000 in development mode"
	@echo "make test  - lint, then the test suite on SQLite, PostgreSQL and MariaDB"
	@echo "make deploy-rehearsal - deploy this checkout to this machine, end to end"
	@echo "make scale-test - two app servers behind nginx on shared PostgreSQL and Redis"
	@echo "make bench - the service under uWSGI and wrk, against a raw WSGI ceiling"
	@echo "make bench-scale - what lists cost at 10^3, 10^5 and 10^6 records (PostgreSQL)"

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

# bandit: security findings of medium or high severity in the service fail the build;
# mypy: the types of the shared surface (pyproject.toml says which modules).
lint: venv
	$(BIN)/black --check .
	$(BIN)/flake8
	$(BIN)/bandit --quiet --recursive myapp --severity-level medium
	$(BIN)/mypy

test: lint check-deploy test-sqlite test-postgres test-mariadb

# The GitHub workflow (schema, then zizmor's security audits), the deploy scripts,
# and the unit's sandboxing: an exposure over 2.0 (threshold 20) fails.
check-deploy: venv
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet .github/workflows/
	$(BIN)/shellcheck deploy/*.sh
	scripts/system-packages.sh systemd-analyze=systemd
	systemd-analyze security --offline=yes --threshold=20 deploy/myapp.service >/dev/null

# Prometheus and promtool (Debian's prometheus) for tests/test_metrics_uwsgi.py,
# which runs in this pass only.
test-sqlite: venv system-packages browser-packages
	scripts/system-packages.sh promtool=prometheus prometheus=prometheus
	@echo "=== pytest on SQLite ==="
	$(BIN)/pytest

test-postgres: venv system-packages browser-packages
	@echo "=== pytest on PostgreSQL ==="
	scripts/with-postgres.sh $(BIN)/pytest

# Only the server and client cores: no system service is installed or started.
test-mariadb: venv system-packages
	scripts/system-packages.sh mariadbd=mariadb-server-core mariadb=mariadb-client-core
	@echo "=== pytest on MariaDB ==="
	scripts/with-mariadb.sh $(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .test-artifacts

# The real deploy script, end to end on this machine (see deploy/rehearsal.sh).
deploy-rehearsal: system-packages
	scripts/system-packages.sh rsync=rsync curl=curl ssh=openssh-client
	deploy/rehearsal.sh

# Two uWSGI instances behind a private nginx, sharing PostgreSQL and Redis
# (tests/scale/, marker scale; nginx is installed when missing where that starts
# no system nginx). timeout is a backstop: the session bounds itself to 5 minutes.
scale-test: venv system-packages
	timeout --kill-after=30 420 $(BIN)/pytest -m scale -v -s tests/scale

# The bench's own tools (the FastAPI reference, py-spy): never the service's.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

# A benchmark, not a test: never part of `make test` (see bench/run.py, README).
bench: venv $(VENV)/.bench-installed system-packages
	scripts/system-packages.sh wrk=wrk
	$(BIN)/python bench/run.py

# A benchmark, not a test: list costs at 10^3, 10^5, 10^6 records (bench/scale.py).
bench-scale: venv system-packages
	$(BIN)/python bench/scale.py
