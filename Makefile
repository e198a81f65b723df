# Two commands for a newcomer: `make run` and `make test`. Each installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run reset test lint format sweep bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# The browser tests' Chromium, from Debian's packages (Playwright drives it; it never downloads one).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

$(NODE_STAMP): package.json
	npm install --silent --no-audit --no-fund
	touch $(NODE_STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m chalicelib.local.server

# Delete the local stage's data (DATA_DIR, default .data/): the next `make run` starts fresh.
reset:
	rm -rf $(or $(DATA_DIR),.data)

test: $(STAMP) $(NODE_STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# One sweep against a real table, e.g. make sweep ARGS="--stack assistants-runs-dev"
sweep: $(STAMP)
	$(BIN)/python -m chalicelib.admin sweep $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/round_trips.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache

# Deployable stack: a SAM template (build/package/sam.json) plus deployment.zip, linted.
# No AWS credentials needed; Lambda wheels come from chalice's cache or PyPI.
.PHONY: package keys
STAGE ?= dev
package: $(STAMP)
	rm -rf build/package
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/chalice package --stage $(STAGE) \
		--merge-template infra/resources.json build/package
	$(BIN)/python infra/precompile.py build/package/deployment.zip
	$(BIN)/cfn-lint --include-checks I -- build/package/sam.json
	@$(BIN)/python -c "import os; n = os.path.getsize('build/package/deployment.zip'); \
		print(f'build/package/deployment.zip: {n / 1e6:.2f} MB (limit 10 MB)')"

# API keys of a deployed stage, e.g. make keys ARGS="create --project acme --stack assistants-runs-dev"
keys: $(STAMP)
	$(BIN)/python -m chalicelib.admin keys $(or $(ARGS),--help)
