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

.PHONY: run demo-code test lint security typecheck install install-dev install-bench bench browser-deps clean lock \
	translations

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Fund Circle needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The lock files (requirements/, made by `make lock` with uv from the pyproject files, every pin with its hashes):
# runtime.txt is the product alone (the container, a production host), run.txt adds the sandbox (`make run`), dev.txt
# adds the development set (`make test`). Installs take exactly the locked versions (--require-hashes), then the two
# distributions of this checkout themselves, editable and without dependencies.
LOCKS := requirements/runtime.txt requirements/run.txt requirements/dev.txt
UV_COMPILE := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes

$(VENV)/.installed: requirements/run.txt pyproject.toml $(SANDBOX_TOOL)/pyproject.toml | $(BIN)/python
	$(BIN)/python scripts/check_lock.py
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/run.txt
	$(BIN)/python -m pip install --quiet --no-deps -e . -e $(SANDBOX_TOOL)
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt pyproject.toml $(SANDBOX_TOOL)/pyproject.toml | $(BIN)/python
	$(BIN)/python scripts/check_lock.py
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e . -e $(SANDBOX_TOOL)
	touch $@ $(VENV)/.installed

# The profilers of `make bench` are not locked: a measuring aid, never installed on a host.
$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e '.[bench]' -e $(SANDBOX_TOOL)
	touch $@

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv>=0.5'

## Refresh the lock files from the pyproject files: keeps every pin that still fits and resolves only what changed
## (about 5 seconds). A lock file with merge-conflict markers is made again from scratch.
lock: | $(BIN)/uv
	@mkdir -p requirements
	@for lock in $(LOCKS); do if grep -qs '^<<<<<<<' $$lock; then echo "$$lock has conflict markers: remaking it"; rm $$lock; fi; done
	$(UV_COMPILE) pyproject.toml -o requirements/runtime.txt
	$(UV_COMPILE) pyproject.toml $(SANDBOX_TOOL)/pyproject.toml -o requirements/run.txt
	$(UV_COMPILE) pyproject.toml $(SANDBOX_TOOL)/pyproject.toml --extra dev -o requirements/dev.txt
	$(BIN)/python scripts/check_lock.py

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

# Debian's docker-compose validates compose.yaml in the tests (tests/ops/test_deployment.py); no Docker daemon needed.
/usr/bin/docker-compose:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose; \
	else \
		echo "The deployment tests need docker-compose: run 'sudo apt-get install --no-install-recommends docker-compose'" >&2; \
	fi

browser-deps: $(CHROMIUM) node_modules/.installed /usr/bin/docker-compose

## Set up the embedded SQLite database, seed the demo circle, start the Open Collective sandbox on
## http://127.0.0.1:5050 (no money moves; its state is kept in instance/oc-sandbox.json) and serve on
## http://127.0.0.1:5000, with the background worker (notices, digests, deadline ticks, payouts). Ctrl-C stops all.
run: install
	$(FLASK) db upgrade
	@mkdir -p instance
	$(FLASK) oc-sandbox --port $(SANDBOX_PORT) --collective riverside-fund --token demo-sandbox-token \
		--name "Riverside Fund (sandbox)" --balance-minor 500000 --currency EUR --payee-account riverside-repair \
		--other-account riverside-garden --state instance/oc-sandbox.json & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null; kill -INT $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) demo --sandbox http://127.0.0.1:$(SANDBOX_PORT)/graphql/v2 || exit 1; \
	$(FLASK) worker & worker=$$!; \
	$(FLASK) run --host $(HOST) --port $(PORT)

## Print the demo treasurer's current authenticator code (demo only: its key is public in fundcircle/demo.py)
demo-code: install
	@$(BIN)/python -c 'import pyotp; from fundcircle.demo import DEMO_TOTP_SECRET; print(pyotp.TOTP(DEMO_TOTP_SECRET).now())'

## Run the whole test suite (on PostgreSQL too when TEST_DATABASE_URL is set)
test: install-dev browser-deps
	$(BIN)/python scripts/check_lock.py
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory security
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Static security checks of our code (bandit) and known vulnerabilities in the locked runtime set (pip-audit over
## requirements/runtime.txt). Fails when the vulnerability service could not check them, unless
## PIP_AUDIT_ACCEPT_UNCHECKED=1 (then it says, every time, which packages were not checked).
security: install-dev
	$(BIN)/bandit --quiet -c pyproject.toml -r fundcircle wsgi.py scripts
	$(BIN)/python scripts/audit_dependencies.py

## Benchmarks (README, "Performance"): x1, x4 and x16 on the local PostgreSQL server, then on SQLite; the table is
## printed and written to bench/results/latest.json. BENCH_ARGS="--sizes 1 --databases postgresql" for a quick look.
bench: install-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## The message catalogues (fundcircle/translations/): the English template from the code and templates, every
## language's catalogue brought up to date with it (new messages untranslated), and compiled. Then translate what
## `$(BIN)/python scripts/translations.py missing` lists; tests/rules/test_translations.py fails until none is left.
translations: install-dev
	$(BIN)/python scripts/translations.py extract
	$(BIN)/python scripts/translations.py update
	$(BIN)/python scripts/translations.py compile

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis .mypy_cache .ruff_cache artifacts
