"""Builds rfqcore's two compiled parts into the one ``rfqcore`` distribution.

- ``rfqcore_core``: the PyO3 crate core_ext/crates/rfqcore-py, built by setuptools-rust (cargo's
  release profile, fat LTO, ``--locked``) into the package src/rfqcore_core, beside its stub;
- ``rfqcore._ring``, ``rfqcore._decode``, ``rfqcore._wire``: the Cython extensions in core_ext/cython
  (``_wire`` signs requests with libsodium's keyed BLAKE2b and links ``libsodium``: the Debian
  ``libsodium-dev`` headers to build, its ``libsodium23`` at run time; docs/ARCHITECTURE.md#dependencies).

The two never link: they share the ring memory layout in docs/ring-layout.md, checked by
tests/test_layout.py. Why one setuptools build and not maturin: docs/ARCHITECTURE.md#build.
``RFQCORE_CARGO_FEATURES=bench`` (comma-separated cargo features) adds the benchmark helpers
(``make bench``).

The Rust gateway links the Aeron C client, which rusteron-client builds from its vendored source
with CMake >= 3.30: the PyPI ``cmake`` (a build requirement in pyproject.toml, and in .venv for
``make build``) is used unless ``$CMAKE`` names another (docs/ARCHITECTURE.md#dependencies).
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools_rust import Binding, RustExtension

CFLAGS = ["-O3", "-march=x86-64-v2", "-fno-strict-aliasing"]
CARGO_FEATURES = [f for f in os.environ.get("RFQCORE_CARGO_FEATURES", "").split(",") if f]

if "CMAKE" not in os.environ:
    try:
        import cmake  # the PyPI package: a recent CMake (Debian 12's 3.25 cannot build Aeron 1.54)

        os.environ["CMAKE"] = os.path.join(cmake.CMAKE_BIN_DIR, "cmake")
    except ImportError:
        pass  # .cargo/config.toml's .venv/bin/cmake, or the build says what is missing


def ext(name: str, libraries: tuple[str, ...] = ()) -> Extension:
    return Extension(
        f"rfqcore.{name}",
        [f"core_ext/cython/{name}.pyx"],
        include_dirs=["core_ext/cython", np.get_include()],
        libraries=list(libraries),
        extra_compile_args=CFLAGS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    )


setup(
    ext_modules=cythonize(
        [ext("_ring"), ext("_decode"), ext("_wire", libraries=("sodium",))],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    rust_extensions=[
        RustExtension(
            "rfqcore_core.rfqcore_core",
            path="core_ext/crates/rfqcore-py/Cargo.toml",
            binding=Binding.PyO3,
            cargo_manifest_args=["--locked"],
            features=CARGO_FEATURES,
            # The core is the hot path: release (fat LTO) in the editable developer build too,
            # where setuptools-rust would otherwise build a debug binary.
            debug=False,
        )
    ],
)
