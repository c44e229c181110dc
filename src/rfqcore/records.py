"""The record and ring-header layout as Python constants (docs/ring-layout.md).

``RECORD_DTYPE`` is the numpy copy of the 64-byte record; ``tests/test_layout.py`` checks it
against the C struct (``rfqcore._ring.record_layout()``) and the Rust struct
(``rfqcore_core.record_layout()``). The enums mirror the tables of the same document.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final

import numpy as np

__all__ = [
    "RECORD_DTYPE",
    "RECORD_FIELDS",
    "RECORD_SIZE",
    "HEADER_SIZE",
    "MAGIC",
    "VERSION",
    "HeaderOffset",
    "Kind",
    "Flag",
    "Side",
    "StaleReason",
    "QuoteWithdrawal",
    "BookStatus",
    "RejectReason",
    "ring_file_size",
]

RECORD_SIZE: Final[int] = 64
HEADER_SIZE: Final[int] = 384
MAGIC: Final[int] = 0x31474E4952514652  # b"RFQRING1" read as a little-endian u64
VERSION: Final[int] = 1

#: (name, numpy type, byte offset) in layout order.
RECORD_FIELDS: Final[tuple[tuple[str, str, int], ...]] = (
    ("kind", "<u2", 0),
    ("instrument", "<u2", 2),
    ("side", "u1", 4),
    ("flags", "u1", 5),
    ("source", "<u2", 6),
    ("seq", "<u8", 8),
    ("ts_event", "<i8", 16),
    ("ts_recv", "<i8", 24),
    ("price", "<i8", 32),
    ("qty", "<i8", 40),
    ("aux", "<i8", 48),
    ("ts_send", "<i8", 56),
)

#: The 64-byte record as a numpy structured dtype (explicit offsets, itemsize 64).
RECORD_DTYPE: Final[np.dtype] = np.dtype(
    {
        "names": [f[0] for f in RECORD_FIELDS],
        "formats": [f[1] for f in RECORD_FIELDS],
        "offsets": [f[2] for f in RECORD_FIELDS],
        "itemsize": RECORD_SIZE,
    }
)
assert RECORD_DTYPE.itemsize == RECORD_SIZE


class HeaderOffset(IntEnum):
    """Byte offsets of the ring-file header fields."""

    MAGIC = 0
    VERSION = 8
    RECORD_SIZE = 12
    CAPACITY = 16
    MASK = 24
    RESERVED = 32
    WRITE_POS = 128
    READ_POS = 256
    RECORDS = 384


def ring_file_size(capacity: int) -> int:
    """Exact length in bytes of a ring file holding ``capacity`` records."""
    return HEADER_SIZE + RECORD_SIZE * capacity


class Kind(IntEnum):
    """``Record.kind``: inputs (handlers -> core) below 100, outputs (core -> out ring) from 100."""

    BOOK_CLEAR = 1
    BOOK_LEVEL = 2
    BOOK_STALE = 3
    TRADE = 4
    BBO = 5
    HEARTBEAT = 6
    QUOTE = 100
    BOOK_STATUS = 101
    REJECT = 102


class Flag(IntFlag):
    """``Record.flags`` bits."""

    NONE = 0
    END = 1 << 0
    SNAPSHOT = 1 << 1
    BID_VALID = 1 << 2
    ASK_VALID = 1 << 3


class Side(IntEnum):
    """``Record.side`` for book, trade and BBO records (trades: aggressor side)."""

    BID = 0
    ASK = 1
    NONE = 255

    # aliases for trades
    BUY = 0
    SELL = 1


class StaleReason(IntEnum):
    """``BOOK_STALE.aux``: why the handler lost sync (docs/ring-layout.md)."""

    SEQUENCE_GAP = 1
    SNAPSHOT_MISMATCH = 2  # first diff after a snapshot does not bracket its id
    CHECKSUM_MISMATCH = 3
    DISCONNECT = 4


class QuoteWithdrawal(IntEnum):
    """``QUOTE.side``: 0 = quoting, otherwise the reason the quote is withdrawn."""

    NONE = 0
    NO_MARKET = 1
    STALE = 2
    CROSSED = 3
    TOO_THIN = 4


class BookStatus(IntEnum):
    """``BOOK_STATUS.aux``."""

    LIVE = 0
    STALE = 1
    CROSSED = 2
    BUILDING = 3


class RejectReason(IntEnum):
    """``REJECT.aux``."""

    UNKNOWN_KIND = 1
    UNKNOWN_INSTRUMENT = 2
    BAD_SIDE = 3
    PRICE_NOT_POSITIVE = 4
    NEGATIVE_QUANTITY = 5
    OFF_TICK_PRICE = 6
    OFF_LOT_QUANTITY = 7
    QUANTITY_ABOVE_MAX = 8
    BOOK_NOT_SYNCED = 9  # diff for a stale/awaiting book, or a snapshot level outside a snapshot
    BOOK_CAPACITY_EXCEEDED = 10
