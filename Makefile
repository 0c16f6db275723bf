# The two set-up commands: `make serve` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test install install-test

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

install: $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e .

install-test: $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'

serve: install
	$(BIN)/amlite serve $(ARGS)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)
