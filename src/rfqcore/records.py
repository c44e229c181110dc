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
    "VenueReportKind",
    "HedgeField",
    "HEDGE_ORDER_STATES",
    "Flag",
    "Side",
    "StaleReason",
    "QuoteWithdrawal",
    "BookStatus",
    "RejectReason",
    "ClientSide",
    "Command",
    "ClientField",
    "InstrumentField",
    "TierField",
    "PricingField",
    "DeskField",
    "QuoteEnd",
    "RiskEvent",
    "RfqReject",
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
    RFQ = 10
    ACCEPT = 11
    CANCEL = 12
    VENUE_REPORT = 13
    VENUE_STATUS = 14
    DESK_ORDER = 15
    CONTROL = 20
    QUOTE = 100
    BOOK_STATUS = 101
    REJECT = 102
    RFQ_QUOTE = 110
    RFQ_REJECT = 111
    ACCEPT_REJECT = 112
    EXEC = 113
    EXEC_FEES = 114
    QUOTE_END = 115
    APPROVAL_PENDING = 116
    RISK_EVENT = 117
    CANCEL_REJECT = 118
    CONTROL_ACK = 120
    HEDGE_ORDER = 121
    HEDGE_REPORT = 122
    HEDGE_REJECT = 123
    HEDGE_STATUS = 124
    DESK_ORDER_EVENT = 125


class VenueReportKind(IntEnum):
    """``side`` of a ``VENUE_REPORT`` input (docs/hedging.md)."""

    ACK = 1
    REJECT = 2
    PARTIAL_FILL = 3
    FILL = 4
    CANCEL_ACK = 5
    CANCEL_REJECT = 6
    EXPIRED = 7


#: ``side`` of a ``HEDGE_REPORT``: the hedge order's OMS state (``rfq_oms::OrderState::code``).
HEDGE_ORDER_STATES: tuple[str, ...] = (
    "new", "pending_new", "acknowledged", "partially_filled", "pending_cancel", "filled", "cancelled",
    "rejected", "expired")


class Flag(IntFlag):
    """``Record.flags`` bits."""

    NONE = 0
    END = 1 << 0
    SNAPSHOT = 1 << 1
    BID_VALID = 1 << 2
    ASK_VALID = 1 << 3
    QTY_IN_QUOTE = 1 << 4  # RFQ: qty is an amount of quote currency
    PARTIAL_OK = 1 << 5  # RFQ_QUOTE: partial fills allowed


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


# ---- RFQ workflow (docs/rfq-protocol.md) ----------------------------------------------------


class ClientSide(IntEnum):
    """``Record.side`` of RFQ-family records: the client's side."""

    BUY = 0  # client buys at the desk's ask
    SELL = 1  # client sells at the desk's bid
    TWO_WAY = 255


class Command(IntEnum):
    """``CONTROL.side``."""

    KILL = 1
    REENABLE = 2
    RESTRICT = 3
    SET_CLIENT = 4
    SET_INSTRUMENT = 5
    SET_TIER = 6
    SET_PRICING = 7
    SET_DESK = 8
    APPROVE = 9
    DECLINE = 10
    CANCEL_QUOTE = 11
    SET_HEDGE = 12
    SET_LADDER = 13
    SET_MEMBER = 14


class ClientField(IntEnum):
    """``CONTROL.source`` of ``SET_CLIENT``."""

    CREDIT_LIMIT = 1
    MAX_OPEN_QUOTES = 2
    RFQ_RATE = 3
    RFQ_BURST = 4
    ACCEPT_RATE = 5
    ACCEPT_BURST = 6
    TIER = 7
    ENABLED = 8


class InstrumentField(IntEnum):
    """``CONTROL.source`` of ``SET_INSTRUMENT``."""

    MIN_QTY = 1
    MAX_QTY = 2
    MAX_NOTIONAL = 3
    LONG_LIMIT = 4
    SHORT_LIMIT = 5
    COLLAR_CBPS = 6
    APPROVAL_QTY = 7
    APPROVAL_NOTIONAL = 8
    APPROVAL_TIMEOUT_NS = 9


class TierField(IntEnum):
    """``CONTROL.source`` of ``SET_TIER``."""

    MARKUP_CBPS = 1
    FEE_CBPS = 2
    TTL_NS = 3
    MAX_TTL_NS = 4
    ALLOW_PARTIAL = 5


class PricingField(IntEnum):
    """``CONTROL.source`` of ``SET_PRICING``."""

    SKEW_CBPS_PER_UNIT = 1
    MAX_SKEW_CBPS = 2
    VOL_MULT_PCT = 3
    VOL_EMA_SHIFT = 4
    HEDGE_FEE_CBPS = 5
    BASE_CBPS = 6
    SIZE_CBPS_PER_UNIT = 7


class HedgeField(IntEnum):
    """``CONTROL.source`` of ``SET_HEDGE`` (docs/hedging.md)."""

    MODE = 1              # 0 off, 1 full, 2 partial, 3 threshold
    RATIO_PCT = 2
    THRESHOLD = 3         # composite qty units
    MAX_SLIPPAGE_CBPS = 4
    RETRY_NS = 5


class DeskField(IntEnum):
    """``CONTROL.source`` of ``SET_DESK``."""

    EXEC_COUNT = 1
    EXEC_WINDOW_NS = 2


class QuoteEnd(IntEnum):
    """``QUOTE_END.aux``."""

    FILLED = 1
    REJECTED = 2
    EXPIRED = 3
    CANCELLED = 4


class RiskEvent(IntEnum):
    """``RISK_EVENT.side``."""

    CLIENT_HALTED = 1
    INSTRUMENT_HALTED = 2


class RfqReject(IntEnum):
    """``aux`` of ``RFQ_REJECT``, ``ACCEPT_REJECT``, ``CANCEL_REJECT`` and ``CONTROL_ACK``."""

    UNKNOWN_INSTRUMENT = 20
    BELOW_MIN_SIZE = 21
    ABOVE_MAX_SIZE = 22
    NO_MARKET = 23
    STALE_MARKET = 24
    EXCEEDS_LIMIT = 25
    INSUFFICIENT_CREDIT = 26
    THROTTLED = 27
    KILL_SWITCH = 28
    NOT_AUTHORISED = 29
    DUPLICATE_ID = 30
    OTHER = 31
    ABOVE_MAX_NOTIONAL = 32
    POSITION_LIMIT = 33
    PRICE_COLLAR = 34
    MAX_OPEN_QUOTES = 35
    HALTED = 36
    RESTRICTED = 37
    TOO_LATE = 38
    UNKNOWN_QUOTE = 39
    QUOTE_NOT_LIVE = 40
    PRICE_MISMATCH = 41
    SIZE_MISMATCH = 42
    BAD_SIDE = 43
    BAD_SIZE = 44
    APPROVAL_DECLINED = 45
    APPROVAL_TIMEOUT = 46
    BAD_LIMIT = 47
    UNKNOWN_CLIENT = 48
    BAD_TTL = 49
    BAD_COMMAND = 50
    UNKNOWN_REQUEST = 51
    CROSSED_MARKET = 52
    MALFORMED = 53
    HEDGE_UNAVAILABLE = 54
    HEDGE_VENUE_LIMIT = 55
    HEDGE_COLLAR = 56
    HEDGE_NO_LIQUIDITY = 57
    UNKNOWN_VENUE = 58
    BAD_REPORT = 59
    # 60 + index: a venue report refused by the OMS (docs/hedging.md)
    OMS_BAD_CL_ORD_ID = 60
    OMS_DUPLICATE_CL_ORD_ID = 61
    OMS_BAD_QTY = 62
    OMS_BAD_PRICE = 63
    OMS_UNKNOWN_ORDER = 64
    OMS_ALREADY_SENT = 65
    OMS_ORDER_CLOSED = 66
    OMS_CANCEL_PENDING = 67
    OMS_VENUE_DISCONNECTED = 68
    OMS_VENUE_MISMATCH = 69
    OMS_BAD_EXEC_ID = 70
    OMS_VENUE_ORDER_ID_MISMATCH = 71
    OMS_VENUE_ORDER_ID_IN_USE = 72
    OMS_OVERFILL = 73
    OMS_REJECT_AFTER_ACK = 74
    OMS_FILL_ON_REJECTED = 75
    NO_INTERNAL_BOOK = 76
    # 80 + index: a desk order the internal crossing book refused (rfqcore.matching.REJECT_REASONS)
    MATCH_UNKNOWN_ORDER = 80
    MATCH_DUPLICATE_ID = 81
    MATCH_UNKNOWN_ACCOUNT = 82
    MATCH_BAD_QTY = 83
    MATCH_OFF_LOT = 84
    MATCH_BAD_PRICE = 85
    MATCH_OFF_TICK = 86
    MATCH_PRICE_OUT_OF_BAND = 87
    MATCH_INVALID_COMBINATION = 88
    MATCH_BOOK_FULL = 89
    MATCH_NO_LIQUIDITY = 90
    MATCH_FOK_NOT_FILLABLE = 91
    MATCH_POST_ONLY_WOULD_TAKE = 92
