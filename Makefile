# Fund Circle: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app fundcircle
HOST ?= 127.0.0.1
PORT ?= 5000
# The local Open Collective stand-in of the demo (see fundcircle/demo.py, DEMO_SANDBOX).
SANDBOX_PORT ?= 5050
# The sandbox is a development tool, not part of the product: a distribution of its own whose `flask.commands` entry
# point gives `flask oc-sandbox`. Every install here adds it (editable); a production install (`pip install .`) has
# no such command.
SANDBOX_TOOL := devtools/oc_sandbox

# The browser tests drive Debian's Chromium and inject axe-core from the npm registry; `make test` installs both.
CHROMIUM ?= /usr/bin/chromium

.PHONY: run demo-code test lint security typecheck install install-dev install-bench bench browser-deps clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Fund Circle needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies (the product's or the sandbox's) change.
$(VENV)/.installed: pyproject.toml $(SANDBOX_TOOL)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . -e $(SANDBOX_TOOL)
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(SANDBOX_TOOL)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e $(SANDBOX_TOOL)
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml $(SANDBOX_TOOL)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]' -e $(SANDBOX_TOOL)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-bench: $(VENV)/.installed-bench

# Chromium from Debian's packages, installed only when it is missing. As root (CI) it is installed here; otherwise
# this says what to run, and the browser tests fail naming the same command.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "The browser tests need Chromium at $(CHROMIUM): run 'sudo apt-get install --no-install-recommends chromium'" >&2; \
	fi

# axe-core, pinned in package-lock.json, into node_modules/ (nothing is downloaded while the tests run).
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

browser-deps: $(CHROMIUM) node_modules/.installed

## Set up the embedded SQLite database, seed the demo circle, start the Open Collective sandbox on
## http://127.0.0.1:5050 (no money moves; its state is kept in instance/oc-sandbox.json) and serve on
## http://127.0.0.1:5000, with the background worker (notices, digests, deadline ticks, payouts). Ctrl-C stops all.
run: install
	$(FLASK) db upgrade
	$(FLASK) demo
	@mkdir -p instance
	$(FLASK) oc-sandbox --port $(SANDBOX_PORT) --collective riverside-fund --token demo-sandbox-token \
		--name "Riverside Fund (sandbox)" --balance-minor 500000 --currency EUR --payee-account riverside-repair \
		--state instance/oc-sandbox.json & sandbox=$$!; \
	$(FLASK) worker & worker=$$!; \
	trap 'kill $$sandbox 2>/dev/null; kill -INT $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

## Print the demo treasurer's current authenticator code (demo only: its key is public in fundcircle/demo.py)
demo-code: install
	@$(BIN)/python -c 'import pyotp; from fundcircle.demo import DEMO_TOTP_SECRET; print(pyotp.TOTP(DEMO_TOTP_SECRET).now())'

## Run the whole test suite (on PostgreSQL too when TEST_DATABASE_URL is set)
test: install-dev browser-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory security
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Static security checks of our code (bandit) and known vulnerabilities in the installed dependencies (pip-audit)
security: install-dev
	$(BIN)/bandit --quiet -c pyproject.toml -r fundcircle wsgi.py scripts
	$(BIN)/python scripts/audit_dependencies.py

## Benchmarks (README, "Performance"): x1, x4 and x16 on the local PostgreSQL server, then on SQLite; the table is
## printed and written to bench/results/latest.json. BENCH_ARGS="--sizes 1 --databases postgresql" for a quick look.
bench: install-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis .mypy_cache .ruff_cache artifacts
