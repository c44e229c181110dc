"""rfqcore: a low-latency RFQ pricing core.

A Rust core thread (``rfqcore_core``, built by setup.py with setuptools-rust) owns books and
pricing; Cython modules decode venue data and push fixed-size records into shared-memory SPSC
rings; this package is the thin orchestration layer around both.
"""

from __future__ import annotations

from importlib.metadata import version as _dist_version

try:
    import rfqcore_core as _core
except ImportError as e:  # pragma: no cover - only without a build
    raise ImportError(
        "rfqcore_core (the compiled Rust core) is not installed: run `make build` (or `pip install .`) from the repository root"
    ) from e

from rfqcore.engine import Engine, QuoteLevel, Subscription, TopOfBook
from rfqcore.instruments import Registry
from rfqcore.rfq import Quote

#: The installed distribution's version (pyproject.toml); the compiled core must be the same build.
__version__: str = _dist_version("rfqcore")
__all__ = ["Engine", "Quote", "QuoteLevel", "Registry", "Subscription", "TopOfBook", "__version__"]
assert _core.__version__ == __version__, f"rfqcore_core {_core.__version__} != rfqcore {__version__}: rebuild"
