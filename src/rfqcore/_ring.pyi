"""Type stubs for ``rfqcore._ring`` (core_ext/cython/_ring.pyx): the Cython SPSC ring."""

from types import TracebackType
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from rfqcore.errors import RingError as RingError

RECORD_SIZE: Final[int]
HEADER_SIZE: Final[int]

Idle = Literal["spin", "yield", "sleep"]

def monotonic_ns() -> int:
    """CLOCK_MONOTONIC in ns (the ``ts_send`` clock)."""

def record_layout() -> dict[str, tuple[int, int]]:
    """Field -> (offset, size) of the C ``rfq_record_t`` (C compiler's offsets)."""

def ring_header_layout() -> dict[str, tuple[int, int]]:
    """Field -> (offset, size) of the ring file header (``RFQ_OFF_*``)."""

def ring_create(path: str, capacity: int) -> None:
    """Create/replace a ring file of ``capacity`` records (power of two >= 2)."""

class RingProducer:
    """Single writer of a ring file; never blocks unless asked, never drops."""

    def __init__(self, path: str) -> None: ...
    def try_push(
        self, kind: int, instrument: int, side: int, flags: int, source: int, seq: int,
        ts_event: int, ts_recv: int, price: int, qty: int, aux: int,
    ) -> bool:
        """Push one record; False if full (nothing written). Stamps ts_send."""
    def push_batch(self, arr: npt.NDArray[np.void]) -> int:
        """Push as many as fit in one claim and one Release store; returns the count."""
    def push_batch_blocking(
        self, arr: npt.NDArray[np.void], idle: Idle = "yield", timeout_ns: int | None = None
    ) -> int:
        """Push all of ``arr``, waiting while full; RingTimeout after ``timeout_ns``."""
    def free(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def write_pos(self) -> int: ...
    @property
    def path(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> RingProducer: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class RingConsumer:
    """Single reader of a ring file; batch consume with one Release store per call."""

    def __init__(self, path: str) -> None: ...
    def wait(self, timeout_ns: int, spin_ns: int = 20_000) -> int: ...
    def available(self) -> int: ...
    def poll(self, max_records: int = 4096) -> npt.NDArray[np.void]:
        """Consume up to ``max_records`` into a new RECORD_DTYPE array (may be empty)."""
    def poll_into(self, out: npt.NDArray[np.void]) -> int:
        """Consume up to ``len(out)`` records into ``out``; returns the count."""
    @property
    def capacity(self) -> int: ...
    @property
    def read_pos(self) -> int: ...
    @property
    def path(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> RingConsumer: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
