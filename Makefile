# Two commands: `make run` serves Haven with a demo galaxy; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test setup system-deps clean lock bench

run: setup
	$(BIN)/haven init
	$(BIN)/haven serve --host $(HOST) --port $(PORT)

test: setup
	scripts/system-deps.sh test
	$(BIN)/pytest

setup: system-deps $(STAMP) $(NODE_STAMP)

system-deps:
	@scripts/system-deps.sh

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# three.js and the other front-end packages, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Refresh the lock file after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip freeze --exclude-editable | grep -v '^haven' > requirements.lock

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
