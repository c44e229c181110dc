# One command builds everything from a fresh clone: `make build` (also run by demo/test).
SHELL := /bin/bash
PYTHON ?= $(shell pyenv which python 2>/dev/null || echo /root/.pyenv/versions/3.12.1/bin/python)
VENV := .venv
VPY := $(VENV)/bin/python
RUST_SRC := Cargo.toml Cargo.lock $(shell find core_ext/crates -name '*.rs' -o -name 'Cargo.toml' -o -name 'pyproject.toml' -o -name '*.pyi')
CY_SRC := setup.py pyproject.toml $(wildcard core_ext/cython/*.pyx core_ext/cython/*.pxd core_ext/cython/*.h)

.PHONY: build demo test test-rust test-py bench clean

build: $(VENV)/.cy-stamp

$(VENV)/.venv-stamp:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), f"rfqcore needs Python >= 3.12, {sys.executable} is {sys.version}"'
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -U pip
	$(VPY) -m pip install -q "maturin>=1.5,<2" "cython>=3.0" "numpy>=2.0" "setuptools>=70" wheel
	touch $@

$(VENV)/.rust-stamp: $(VENV)/.venv-stamp $(RUST_SRC)
	rm -rf target/wheels
	$(VENV)/bin/maturin build --release --locked -m core_ext/crates/rfqcore-py/Cargo.toml -i $(VPY) -o target/wheels
	$(VPY) -m pip install -q --force-reinstall --no-deps target/wheels/rfqcore_core-*.whl
	touch $@

$(VENV)/.cy-stamp: $(VENV)/.rust-stamp $(CY_SRC)
	$(VPY) -m pip install -q --no-build-isolation -e '.[test]'
	$(VPY) setup.py -q build_ext --inplace
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

# The bench build: the same wheel plus the benchmark helpers (cargo feature `bench`,
# core_ext/crates/rfqcore-py/src/bench.rs). Removing the rust stamp makes the next
# `make build` / `make test` reinstall the production wheel.
bench: build
	rm -rf target/wheels-bench
	$(VENV)/bin/maturin build --release --locked --features bench -m core_ext/crates/rfqcore-py/Cargo.toml -i $(VPY) -o target/wheels-bench
	$(VPY) -m pip install -q --force-reinstall --no-deps target/wheels-bench/rfqcore_core-*.whl
	rm -f $(VENV)/.rust-stamp
	$(VPY) -m pip install -q "nautilus-trader==1.231.0"   # the bench-only extra, for side-by-side runs
	$(VPY) bench/run_all.py

clean:
	rm -rf $(VENV) target build src/rfqcore/*.so core_ext/cython/*.c
