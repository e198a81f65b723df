# Two commands for a newcomer: `make run` and `make test`. Each installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test lint format sweep bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(NODE_STAMP): package.json
	npm install --silent --no-audit --no-fund
	touch $(NODE_STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m chalicelib.local.server

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sweep: $(STAMP)
	$(BIN)/python -m chalicelib.local.sweep_once

bench: $(STAMP)
	$(BIN)/python bench/round_trips.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
