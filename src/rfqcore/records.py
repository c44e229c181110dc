"""The record and ring-header layout as Python constants, and the wire codes (docs/ring-layout.md).

``RECORD_DTYPE`` is the numpy copy of the 64-byte record and ``RECORD_STRUCT`` the ``struct``
format built from it (the gateway unpacks records with it); ``tests/test_layout.py`` checks
them against the C struct (``rfqcore._ring.record_layout()``), the Rust struct
(``rfqcore_core.record_layout()``) and the record table of the docs.

The wire-code enums (``Kind``, ``Flag``, ``RfqReject``, ``Command`` and the ``*Field`` enums of
``CONTROL`` ...) are generated from their one source, the Rust crate rfq-ring, into
``rfqcore._wire_codes`` by ``tools/wire_codes.py``; import them from here.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final

import numpy as np

from rfqcore._wire_codes import (
    RFQ_REJECT_MEANING,
    BookStatus,
    ClientField,
    ClientSide,
    Command,
    DeskField,
    DeskOrderEventKind,
    Flag,
    HedgeField,
    HedgeMode,
    HedgeRejectWhat,
    InstrumentField,
    Kind,
    LadderField,
    PricingField,
    QuoteEnd,
    QuoteWithdrawal,
    RejectReason,
    RfqReject,
    RiskEvent,
    Side,
    StaleReason,
    TierField,
    VenueReportKind,
)

__all__ = [
    "RECORD_DTYPE",
    "RECORD_FIELDS",
    "RECORD_SIZE",
    "RECORD_STRUCT",
    "HEADER_SIZE",
    "MAGIC",
    "VERSION",
    "HeaderOffset",
    "HEDGE_ORDER_STATES",
    "ring_file_size",
    # wire codes (generated, rfqcore._wire_codes)
    "RFQ_REJECT_MEANING",
    "BookStatus",
    "ClientField",
    "ClientSide",
    "Command",
    "DeskField",
    "DeskOrderEventKind",
    "Flag",
    "HedgeField",
    "HedgeMode",
    "HedgeRejectWhat",
    "InstrumentField",
    "Kind",
    "LadderField",
    "PricingField",
    "QuoteEnd",
    "QuoteWithdrawal",
    "RejectReason",
    "RfqReject",
    "RiskEvent",
    "Side",
    "StaleReason",
    "TierField",
    "VenueReportKind",
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


def _struct_format(fields: tuple[tuple[str, str, int], ...], size: int) -> str:
    """The little-endian ``struct`` format of ``fields`` (contiguous, filling ``size`` bytes)."""
    codes = {"u1": "B", "u2": "H", "u4": "I", "u8": "Q", "i1": "b", "i2": "h", "i4": "i", "i8": "q"}
    fmt, end = "<", 0
    for name, np_type, offset in fields:
        if offset != end:
            raise ValueError(f"record field {name} at {offset}, expected {end}: RECORD_FIELDS must be contiguous")
        fmt += codes[np_type.lstrip("<")]
        end = offset + np.dtype(np_type).itemsize
    if end != size:
        raise ValueError(f"record fields end at {end}, expected {size}")
    return fmt


#: The record as a ``struct`` (``unpack_from`` gives the fields in ``RECORD_FIELDS`` order).
RECORD_STRUCT: Final[struct.Struct] = struct.Struct(_struct_format(RECORD_FIELDS, RECORD_SIZE))


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


#: ``side`` of a ``HEDGE_REPORT``: the hedge order's OMS state (``rfq_oms::OrderState::code``).
HEDGE_ORDER_STATES: tuple[str, ...] = (
    "new", "pending_new", "acknowledged", "partially_filled", "pending_cancel", "filled", "cancelled",
    "rejected", "expired")
