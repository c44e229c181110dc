# One command builds everything from a fresh clone: `make build` (also run by demo/test).
SHELL := /bin/bash
PYTHON ?= $(shell pyenv which python 2>/dev/null || echo /root/.pyenv/versions/3.12.1/bin/python)
VENV := .venv
VPY := $(VENV)/bin/python
SRC := setup.py pyproject.toml Cargo.toml Cargo.lock $(shell find core_ext/crates -name '*.rs' -o -name 'Cargo.toml') \
	$(wildcard core_ext/cython/*.pyx core_ext/cython/*.pxd core_ext/cython/*.h)

.PHONY: build demo test test-rust test-py bench clean

build: $(VENV)/.build-stamp

# Rerun when the Makefile changes, so an older .venv gets the build tools it now needs.
$(VENV)/.venv-stamp: Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), f"rfqcore needs Python >= 3.12, {sys.executable} is {sys.version}"'
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -U pip
	$(VPY) -m pip install -q "setuptools>=77" "setuptools-rust>=1.9,<2" "cython>=3.0" "numpy>=2.0" wheel
	touch $@

# The developer install: editable, both compiled parts built in place by setup.py (the Rust core
# in release mode, into src/rfqcore_core; the Cython modules into src/rfqcore). A .venv from
# before the one-distribution build still has the separate rfqcore-core wheel: it goes first.
$(VENV)/.build-stamp: $(VENV)/.venv-stamp $(SRC)
	$(VPY) -m pip uninstall -q -y rfqcore-core 2>/dev/null || true
	$(VPY) -m pip install -q --no-build-isolation -e '.[test]'
	touch $@

demo: build
	$(VENV)/bin/rfqcore demo
	$(VENV)/bin/rfqcore hedge-demo

test-rust:
	cargo test --locked -q

# a skip or xfail fails unless the machine lacks the recorded data or PostgreSQL (tests/strict_outcomes.py)
test-py: build
	RFQCORE_STRICT_SKIPS=1 $(VPY) -m pytest -q -rsxX tests

test: build test-rust test-py

# The bench build: the same core plus the benchmark helpers (cargo feature `bench`,
# core_ext/crates/rfqcore-py/src/bench.rs), built in place over the production one. Removing the
# build stamp makes the next `make build` / `make test` put the production core back.
bench: build
	RFQCORE_CARGO_FEATURES=bench $(VPY) setup.py -q build_rust --inplace
	rm -f $(VENV)/.build-stamp
	$(VPY) -m pip install -q "nautilus-trader==1.231.0"   # the bench-only extra, for side-by-side runs
	$(VPY) bench/run_all.py

clean:
	rm -rf $(VENV) target build src/rfqcore/*.so src/rfqcore_core/*.so core_ext/cython/*.c
