# Haven — every set-up step lives here so that a fresh clone needs only `make run` / `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HAVEN := $(VENV)/bin/haven
PHOTOS ?= ../shared/data/photos
PYTEST_ARGS ?=
# `make run` keeps its database, index and demo files inside the checkout (git-ignored).
DATA_DIR ?= $(CURDIR)/.haven
PORT ?= 8000
KERNELS := $(wildcard src/haven/*/*.c)

.PHONY: install run test test-slow check lint bench fuzz clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py $(KERNELS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $@

run: install
	HAVEN_DATA_DIR=$(DATA_DIR) $(HAVEN) bank demo --photos $(PHOTOS)
	HAVEN_DATA_DIR=$(DATA_DIR) $(HAVEN) serve --dev-key --port $(PORT)

test: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# The lint gate (ruff, the project's 110 columns) and the type gate (mypy: strict on the core, see
# pyproject.toml); .ci/run calls both before the tests.
lint: install
	$(VENV)/bin/ruff check src tests fuzz

check: install
	$(VENV)/bin/mypy

bench: install
	$(HAVEN) bench hash --photos $(PHOTOS)

fuzz: install
	mkdir -p .fuzz/decode
	$(PY) fuzz/fuzz_decode.py .fuzz/decode -max_total_time=60 -rss_limit_mb=2048

clean:
	rm -rf $(VENV) build src/*.egg-info src/haven/*/*.so .pytest_cache
