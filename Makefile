# Two commands for a fresh machine (Python 3.11+ and make):
#   make serve   install into .venv and start a node with embedded defaults
#   make check   install into .venv (with dev tools) and run the whole suite, as CI does
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOME_DIR ?= ./accord-data

.PHONY: serve check install install-dev lint typecheck imports proto proto-check test federation bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

serve: install
	$(BIN)/accord --home $(HOME_DIR) serve

federation: install
	$(BIN)/python deploy/federation.py

check: install-dev lint typecheck imports proto-check test

lint: install-dev
	$(BIN)/ruff check node tests bench deploy
	$(BIN)/ruff format --check node tests bench deploy

typecheck: install-dev
	$(BIN)/mypy

imports: install-dev
	$(BIN)/lint-imports

proto: install-dev
	$(BIN)/python proto/generate.py

proto-check: install-dev
	$(BIN)/python proto/generate.py --check

test: install-dev
	$(BIN)/pytest -q -p no:cacheprovider --cov --cov-report=term:skip-covered

bench: install-dev
	$(BIN)/python -m bench.stix_codec

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
