# One command builds everything from a fresh clone: `make build` (also run by demo/test).
SHELL := /bin/bash
PYTHON ?= $(shell pyenv which python 2>/dev/null || echo /root/.pyenv/versions/3.12.1/bin/python)
VENV := .venv
VPY := $(VENV)/bin/python
SRC := setup.py pyproject.toml Cargo.toml Cargo.lock .cargo/config.toml core_ext/aeron-pic.cmake $(shell find core_ext/crates -name '*.rs' -o -name 'Cargo.toml') \
	$(wildcard core_ext/cython/*.pyx core_ext/cython/*.pxd core_ext/cython/*.h)

.PHONY: build browser demo test test-rust test-py bench clean

build: $(VENV)/.build-stamp

# Rerun when the Makefile changes, so an older .venv gets the build tools it now needs.
$(VENV)/.venv-stamp: Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), f"rfqcore needs Python >= 3.12, {sys.executable} is {sys.version}"'
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -U pip
	$(VPY) -m pip install -q "setuptools>=77" "setuptools-rust>=1.9,<2" "cython>=3.0" "numpy>=2.0" wheel "cmake>=3.30"
	touch $@

# The Rust gateway links the Aeron C client, built from source by rusteron-client: CMake >= 3.30
# (the PyPI cmake above, in .venv: .cargo/config.toml points cargo at it), clang/libclang for
# bindgen, and libbsd + libuuid headers. The client's compiled codec (rfqcore._wire) signs requests
# with libsodium's keyed BLAKE2b: its headers (libsodium-dev; it links libsodium23 at run time).
# The Debian packages are installed once when missing (as root, with apt-get); elsewhere one line
# says what to install.
AERON_PKGS := clang libclang-dev libbsd-dev uuid-dev
SODIUM_PKGS := libsodium-dev
BUILD_PKGS := $(AERON_PKGS) $(SODIUM_PKGS)
$(VENV)/.build-deps-stamp: $(VENV)/.venv-stamp
	@missing=$$(for p in $(BUILD_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing build dependencies (Aeron C client, libsodium) from Debian: apt-get install $$missing"; \
	    $(APT_INSTALL) $$missing >/dev/null || { apt-get update -q >/dev/null && $(APT_INSTALL) $$missing >/dev/null; } \
	      || { echo "could not install $$missing with apt-get: install them, then run make again"; exit 1; }; \
	  else \
	    echo "missing Debian build dependencies (Aeron C client, libsodium): $$missing (as root: apt-get install $$missing), then run make again"; exit 1; \
	  fi; \
	fi
	touch $@

# The developer install: editable, both compiled parts built in place by setup.py (the Rust core
# in release mode, into src/rfqcore_core; the Cython modules into src/rfqcore). A .venv from
# before the one-distribution build still has the separate rfqcore-core wheel: it goes first.
$(VENV)/.build-stamp: $(VENV)/.venv-stamp $(VENV)/.build-deps-stamp $(SRC)
	$(VPY) -m pip uninstall -q -y rfqcore-core 2>/dev/null || true
	$(VPY) -m pip install -q --no-build-isolation -e '.[test]'
	touch $@

demo: build
	$(VENV)/bin/rfqcore demo
	$(VENV)/bin/rfqcore hedge-demo
	$(VENV)/bin/rfqcore fix-demo
	$(VENV)/bin/rfqcore cluster-demo

test-rust: $(VENV)/.build-deps-stamp
	cargo test --locked -q

# The real-browser tests (tests/test_browser.py) drive Debian's headless Chromium through Debian's
# chromedriver (the same build, so versions match and nothing is downloaded; docs/web.md). Installed
# once when missing (as root, with apt-get; the package lists are refreshed only if the install fails
# on stale ones); a machine where that cannot be done gets one line saying what to install, and the
# browser tests fail with the same line rather than skipping.
BROWSER_PKGS := chromium chromium-driver
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing headless Chromium from Debian: apt-get install $(BROWSER_PKGS)"; \
	  $(APT_INSTALL) $(BROWSER_PKGS) >/dev/null || { apt-get update -q >/dev/null && $(APT_INSTALL) $(BROWSER_PKGS) >/dev/null; } \
	    || echo "could not install $(BROWSER_PKGS) with apt-get: the browser tests will fail until they are installed"; \
	else \
	  echo "headless Chromium missing: install the Debian packages $(BROWSER_PKGS) (as root: apt-get install $(BROWSER_PKGS)); the browser tests fail without them"; \
	fi

# a skip or xfail fails unless the machine lacks the recorded data or PostgreSQL (tests/strict_outcomes.py)
test-py: build browser
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
