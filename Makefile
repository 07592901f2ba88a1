# Two commands for a fresh machine (Python 3.11+ and make):
#   make serve   install into .venv and start a node with embedded defaults
#   make check   install into .venv (with dev tools) and run the whole suite, as CI does
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOME_DIR ?= ./accord-data

.PHONY: serve check install install-dev system-deps lint typecheck imports proto proto-check test federation bench clean

# FFmpeg libraries for vPDQ (video). Installed with apt when missing and we are root on Debian;
# elsewhere install them yourself (see README) or go without video matching.
VIDEO_APT := pkg-config cmake ffmpeg libavcodec-dev libavformat-dev libavdevice-dev libavutil-dev \
             libswscale-dev libswresample-dev libavfilter-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python system-deps
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e '.[dev,video]' || { [ -z "$$CI" ] && echo "video extra not installed: video tests will skip"; }
	touch $(VENV)/.installed $@

system-deps:
	@if command -v ffmpeg >/dev/null && pkg-config --exists libavcodec libavformat libswscale 2>/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing FFmpeg libraries for video (vPDQ)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(VIDEO_APT) >/dev/null; \
	else echo "FFmpeg development libraries missing: video (vPDQ) support will be skipped"; fi

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
	$(BIN)/pytest -q -p no:cacheprovider -n 4 --dist worksteal --cov --cov-report=term:skip-covered

# `make bench` runs every benchmark in its quick mode (minutes); `make bench BENCH=` runs the full
# sizes (1M/10M lists, a 10M-indicator home built once under .bench-data/; see bench/README.md).
BENCH ?= --quick
bench: install-dev
	$(BIN)/python -m bench.stix_codec
	$(BIN)/python -m bench.matching $(BENCH)
	$(BIN)/python -m bench.sync $(BENCH)
	$(BIN)/python -m bench.match_api $(BENCH)
	$(BIN)/python -m bench.cold_start $(BENCH)
	$(BIN)/python -m bench.scan $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
