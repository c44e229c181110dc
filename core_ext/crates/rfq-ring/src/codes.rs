//! The wire codes of the [`Record`](crate::Record) fields: kinds, flags, sides and reasons.
//!
//! **This file (with `control.rs` and `rfq_reject.rs`) is the one source of every wire code.**
//! `tools/wire_codes.py` reads it and generates the Python enums (`rfqcore/_wire_codes.py`),
//! the constants block of `core_ext/cython/rfq_ring.h` and the code tables of
//! `docs/ring-layout.md` and `docs/rfq-protocol.md`; `tests/test_wire_codes.py` fails when a
//! generated copy differs. So keep to the syntax the generator reads: a `///` line (the meaning,
//! copied into the docs) before every `pub mod` and `pub const`, integer literals as values, or
//! the name of an earlier constant of the same module for an alias.

/// Values of [`Record::kind`](crate::Record::kind): inputs below 100, outputs from 100.
pub mod kind {
    /// Input: start of a snapshot; the book is emptied and not live until the snapshot's `END`.
    pub const BOOK_CLEAR: u16 = 1;
    /// Input: set level `price` on `side` to `qty` (0 deletes); `seq` = `u`, `aux` = `U`.
    pub const BOOK_LEVEL: u16 = 2;
    /// Input: the handler lost sync; book stale until the next snapshot; `aux` = reason.
    pub const BOOK_STALE: u16 = 3;
    /// Input: a trade; `side` = aggressor side, `seq` = trade id.
    pub const TRADE: u16 = 4;
    /// Input: venue top of book, one record per side.
    pub const BBO: u16 = 5;
    /// Input: advances the core clock (`ts_recv`) with no other effect.
    pub const HEARTBEAT: u16 = 6;
    /// Input: a client's request for quote (docs/rfq-protocol.md).
    pub const RFQ: u16 = 10;
    /// Input: a client hits a live quote.
    pub const ACCEPT: u16 = 11;
    /// Input: a client (or the desk, `source` 0) withdraws a live quote.
    pub const CANCEL: u16 = 12;
    /// Input: an execution report of a hedge order from a venue link (docs/hedging.md).
    pub const VENUE_REPORT: u16 = 13;
    /// Input: a venue's link state (up / down) from a venue link (docs/hedging.md).
    pub const VENUE_STATUS: u16 = 14;
    /// Input: a desk order for (or a cancel in) the internal crossing book (docs/hedging.md).
    pub const DESK_ORDER: u16 = 15;
    /// Input: operator command or live parameter change; `side` = a `control::command`.
    pub const CONTROL: u16 = 20;
    /// Output: one ladder level of a composite quote (`price` = bid, `aux` = ask).
    pub const QUOTE: u16 = 100;
    /// Output: a venue book changed state; `aux` is a `book_status` value.
    pub const BOOK_STATUS: u16 = 101;
    /// Output: an input record was refused; `aux` is a `reject` reason.
    pub const REJECT: u16 = 102;
    /// Output: one side of a firm quote to a client.
    pub const RFQ_QUOTE: u16 = 110;
    /// Output: an RFQ was refused; `aux` is an `rfq_reject` reason.
    pub const RFQ_REJECT: u16 = 111;
    /// Output: an accept was refused.
    pub const ACCEPT_REJECT: u16 = 112;
    /// Output: execution report, first record.
    pub const EXEC: u16 = 113;
    /// Output: execution report, second record (notional and fee).
    pub const EXEC_FEES: u16 = 114;
    /// Output: a quote ended (filled, rejected, expired or cancelled); exactly one per quote.
    pub const QUOTE_END: u16 = 115;
    /// Output: an RFQ waits for manual approval.
    pub const APPROVAL_PENDING: u16 = 116;
    /// Output: a risk event (client or instrument halted).
    pub const RISK_EVENT: u16 = 117;
    /// Output: a cancel was refused.
    pub const CANCEL_REJECT: u16 = 118;
    /// Output: the audit event answering a `CONTROL`.
    pub const CONTROL_ACK: u16 = 120;
    /// Output: a hedge order for a venue link to send (docs/hedging.md).
    pub const HEDGE_ORDER: u16 = 121;
    /// Output: a venue report applied to a hedge order (new state, fill, slippage).
    pub const HEDGE_REPORT: u16 = 122;
    /// Output: a hedge order refused by the core's risk checks, or a venue input refused.
    pub const HEDGE_REJECT: u16 = 123;
    /// Output: hedging of a composite became available / unavailable.
    pub const HEDGE_STATUS: u16 = 124;
    /// Output: what happened to a desk order of the internal crossing book.
    pub const DESK_ORDER_EVENT: u16 = 125;
}

/// Bits of [`Record::flags`](crate::Record::flags).
pub mod flags {
    /// No flag set.
    pub const NONE: u8 = 0;
    /// Last record of one venue message: the book is consistent after it (quotes are computed here); every input of the RFQ protocol carries it.
    pub const END: u8 = 1;
    /// The record is part of a snapshot.
    pub const SNAPSHOT: u8 = 2;
    /// `QUOTE`: bid side present.
    pub const BID_VALID: u8 = 4;
    /// `QUOTE`: ask side present.
    pub const ASK_VALID: u8 = 8;
    /// `RFQ`: `qty` is an amount of quote currency (composite price scale).
    pub const QTY_IN_QUOTE: u8 = 16;
    /// `RFQ_QUOTE`: partial fills allowed.
    pub const PARTIAL_OK: u8 = 32;
}

/// Values of [`Record::side`](crate::Record::side) for book, trade and BBO records (every kind except `QUOTE`).
pub mod side {
    /// Bid side of a book.
    pub const BID: u8 = 0;
    /// Ask side of a book.
    pub const ASK: u8 = 1;
    /// No side.
    pub const NONE: u8 = 255;
    /// Buy aggressor (trades).
    pub const BUY: u8 = BID;
    /// Sell aggressor (trades).
    pub const SELL: u8 = ASK;
    /// `RFQ`: two-way.
    pub const TWO_WAY: u8 = NONE;
}

/// `side` of RFQ-family records: the client's side (docs/rfq-protocol.md).
pub mod client_side {
    /// The client buys at the desk's ask.
    pub const BUY: u8 = 0;
    /// The client sells at the desk's bid.
    pub const SELL: u8 = 1;
    /// Two-way request (`RFQ` only).
    pub const TWO_WAY: u8 = 255;
}

/// `QUOTE` withdrawal reasons, carried in `side` of a `QUOTE` record.
pub mod withdraw {
    /// Not withdrawn: quoting.
    pub const NONE: u8 = 0;
    /// No market to price from.
    pub const NO_MARKET: u8 = 1;
    /// Inputs are stale.
    pub const STALE: u8 = 2;
    /// Inputs are crossed.
    pub const CROSSED: u8 = 3;
    /// Not enough depth for this ladder size.
    pub const TOO_THIN: u8 = 4;
}

/// `BOOK_STATUS` values, carried in `aux`.
pub mod book_status {
    /// The book is live.
    pub const LIVE: i64 = 0;
    /// The book is stale (lost sync).
    pub const STALE: i64 = 1;
    /// The book is crossed.
    pub const CROSSED: i64 = 2;
    /// A snapshot is being loaded.
    pub const BUILDING: i64 = 3;
}

/// `BOOK_STALE` reasons, carried in `aux`: why the handler lost sync.
pub mod stale_reason {
    /// A gap in the venue's update ids.
    pub const SEQUENCE_GAP: i64 = 1;
    /// The first diff after a snapshot does not bracket the snapshot's id.
    pub const SNAPSHOT_MISMATCH: i64 = 2;
    /// The venue's book checksum does not match (OKX).
    pub const CHECKSUM_MISMATCH: i64 = 3;
    /// The connection to the venue dropped.
    pub const DISCONNECT: i64 = 4;
}

/// `REJECT` reasons, carried in `aux`: a market-data input was refused and changed no state.
pub mod reject {
    /// Unknown record kind.
    pub const UNKNOWN_KIND: i64 = 1;
    /// Unknown instrument id.
    pub const UNKNOWN_INSTRUMENT: i64 = 2;
    /// Side is neither bid nor ask.
    pub const BAD_SIDE: i64 = 3;
    /// Price ≤ 0.
    pub const PRICE_NOT_POSITIVE: i64 = 4;
    /// Negative quantity.
    pub const NEGATIVE_QUANTITY: i64 = 5;
    /// Price not a multiple of the tick.
    pub const OFF_TICK_PRICE: i64 = 6;
    /// Quantity not a multiple of the lot.
    pub const OFF_LOT_QUANTITY: i64 = 7;
    /// Quantity above the instrument maximum.
    pub const QUANTITY_ABOVE_MAX: i64 = 8;
    /// Book not synced: a diff for a book that is stale or awaiting its snapshot, or a snapshot level outside a snapshot.
    pub const BOOK_NOT_SYNCED: i64 = 9;
    /// Book level capacity exceeded (the book is also marked stale).
    pub const BOOK_CAPACITY_EXCEEDED: i64 = 10;
}

/// `QUOTE_END` states, carried in `aux`.
pub mod quote_end {
    /// Filled.
    pub const FILLED: i64 = 1;
    /// Rejected at the moment of the hit.
    pub const REJECTED: i64 = 2;
    /// Expired.
    pub const EXPIRED: i64 = 3;
    /// Cancelled by the client or the desk.
    pub const CANCELLED: i64 = 4;
}

/// `RISK_EVENT` events, carried in `side`.
pub mod risk_event {
    /// A client was halted by the repeated-execution throttle.
    pub const CLIENT_HALTED: u8 = 1;
    /// An instrument was halted by the repeated-execution throttle.
    pub const INSTRUMENT_HALTED: u8 = 2;
}

/// Values of `side` in a `VENUE_REPORT` (what the venue reports).
pub mod venue_report {
    /// The venue accepted the order.
    pub const ACK: u8 = 1;
    /// The venue refused the new order (`aux` = venue reason code).
    pub const REJECT: u8 = 2;
    /// A fill that leaves quantity open.
    pub const PARTIAL_FILL: u8 = 3;
    /// The venue's last fill.
    pub const FILL: u8 = 4;
    /// The venue cancelled the order (requested, IOC remainder, or unsolicited).
    pub const CANCEL_ACK: u8 = 5;
    /// The venue refused a cancel (`aux` = venue reason code).
    pub const CANCEL_REJECT: u8 = 6;
    /// The venue expired the order (FOK not fillable).
    pub const EXPIRED: u8 = 7;
}

/// `side` of a `HEDGE_REJECT`: what was refused.
pub mod hedge_reject {
    /// A hedge order the core's own checks refused (or could not route).
    pub const ORDER: u8 = 1;
    /// A `VENUE_REPORT` input.
    pub const REPORT: u8 = 2;
    /// A `VENUE_STATUS` input.
    pub const STATUS: u8 = 3;
}

/// `side` of a `DESK_ORDER_EVENT`.
pub mod desk_event {
    /// The desk order rests in the internal book.
    pub const ACCEPTED: u8 = 1;
    /// Refused (`aux` = reason); nothing changed.
    pub const REJECTED: u8 = 2;
    /// Client flow crossed it: `price`/`qty` the fill, `aux` the quantity left.
    pub const FILL: u8 = 3;
    /// Cancelled (`aux` = the quantity that was open).
    pub const CANCELLED: u8 = 4;
}
