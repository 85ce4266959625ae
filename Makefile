# Fund Circle: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app fundcircle
HOST ?= 127.0.0.1
PORT ?= 5000
# The local Open Collective stand-in of the demo (see fundcircle/demo.py, DEMO_SANDBOX).
SANDBOX_PORT ?= 5050

.PHONY: run demo-code test lint typecheck install install-dev clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Fund Circle needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Set up the embedded SQLite database, seed the demo circle, start the Open Collective sandbox on
## http://127.0.0.1:5050 (no money moves; its state is kept in instance/oc-sandbox.json) and serve on
## http://127.0.0.1:5000. Ctrl-C stops both.
run: install
	$(FLASK) db upgrade
	$(FLASK) demo
	@mkdir -p instance
	$(FLASK) oc-sandbox --port $(SANDBOX_PORT) --collective riverside-fund --token demo-sandbox-token \
		--name "Riverside Fund (sandbox)" --balance-minor 500000 --currency EUR --payee-account riverside-repair \
		--state instance/oc-sandbox.json & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

## Print the demo treasurer's current authenticator code (demo only: its key is public in fundcircle/demo.py)
demo-code: install
	@$(BIN)/python -c 'import pyotp; from fundcircle.demo import DEMO_TOTP_SECRET; print(pyotp.TOTP(DEMO_TOTP_SECRET).now())'

## Run the whole test suite (on PostgreSQL too when TEST_DATABASE_URL is set)
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
