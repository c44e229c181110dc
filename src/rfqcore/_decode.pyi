"""Type stubs for ``rfqcore._decode`` (core_ext/cython/_decode.pyx): exact fixed-point decode."""

from typing import Final

import numpy as np
import numpy.typing as npt

MAX_DECIMALS: Final[int]

def parse_fixed(
    s: str | bytes, decimals: int, *, allow_negative: bool = False, field: str = "value",
    instrument: str | None = None,
) -> int:
    """Exact ``s * 10**decimals`` as int64; BadDecimal/PrecisionLoss/DecimalOverflow/NegativeDecimal."""

def format_fixed(value: int, decimals: int) -> str:
    """Inverse of parse_fixed."""

def put_record(
    out: npt.NDArray[np.void], i: int, kind: int, instrument: int, side: int, flags: int,
    source: int, seq: int, ts_event: int, ts_recv: int, price: int, qty: int, aux: int,
) -> None: ...
def or_flags(out: npt.NDArray[np.void], i: int, flags: int) -> None: ...
def copy_records(out: npt.NDArray[np.void], i: int, src: npt.NDArray[np.void]) -> int: ...

class InstrumentCodec:
    """Scales and tick/lot/max checks of one instrument, plus the level decode loop."""

    instrument: Final[int]
    name: Final[str]
    price_decimals: Final[int]
    qty_decimals: Final[int]
    tick: Final[int]
    lot: Final[int]
    max_qty: Final[int]

    def __init__(
        self, instrument: int, name: str, price_decimals: int, qty_decimals: int, tick: int,
        lot: int, max_qty: int,
    ) -> None: ...
    def price(self, s: str | bytes, field: str = "price") -> int: ...
    def qty(self, s: str | bytes, field: str = "qty") -> int: ...
    def put(
        self, out: npt.NDArray[np.void], i: int, kind: int, side: int, flags: int, source: int,
        seq: int, ts_event: int, ts_recv: int, price: object, qty: object, aux: int = 0,
    ) -> None:
        """Parse+check a price/qty pair and write one record at ``out[i]``."""
    def decode_levels(
        self, levels: list[list[str]], side: int, out: npt.NDArray[np.void], start: int,
        kind: int, flags: int, source: int, seq: int, ts_event: int, ts_recv: int, aux: int,
    ) -> int:
        """One record per ``[px, sz, ...]`` level into ``out[start:]``; returns len(levels)."""
