# The two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-runtime
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test lint fmt vendor screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(DEVSTAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/gunicorn -c gunicorn.conf.py 'wsgi:serve()'

# The suite mostly waits on server processes and browsers, so two workers (pytest-xdist) keep
# both of CI's cores busy. A file stays on one worker (its module-scoped servers start once),
# in collection order: tests/conftest.py puts the slow files first. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2

test: $(DEVSTAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(DEVSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(DEVSTAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

screenshot: $(DEVSTAMP)
	$(BIN)/python -m tests.browser.screenshot

vendor:
	cd dashboard/static/vendor && npm ci --ignore-scripts && sh ./copy.sh

clean:
	rm -rf $(VENV) .pytest_cache
