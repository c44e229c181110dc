"""rfqcore's compiled Rust core: the extension module ``rfqcore_core.rfqcore_core``, re-exported.

Built from core_ext/crates/rfqcore-py by setup.py (setuptools-rust); the types are in
``__init__.pyi`` beside this file, checked against the binary by tests/test_stubs.py.
"""

from .rfqcore_core import *  # noqa: F403

__doc__ = rfqcore_core.__doc__  # noqa: F405
if hasattr(rfqcore_core, "__all__"):  # noqa: F405
    __all__ = rfqcore_core.__all__  # noqa: F405
