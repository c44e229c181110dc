"""Builds the Cython extensions (ring producer/consumer, venue decoders).

The Rust core is a separate maturin build (core_ext/crates/rfqcore-py); the two never link:
they share the ring memory layout in docs/ring-layout.md, checked by tests/test_layout.py.
"""

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

CFLAGS = ["-O3", "-march=x86-64-v2", "-fno-strict-aliasing"]


def ext(name: str) -> Extension:
    return Extension(
        f"rfqcore.{name}",
        [f"core_ext/cython/{name}.pyx"],
        include_dirs=["core_ext/cython", np.get_include()],
        extra_compile_args=CFLAGS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    )


setup(
    ext_modules=cythonize(
        [ext("_ring"), ext("_decode")],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
