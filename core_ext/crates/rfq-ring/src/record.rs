//! The 64-byte [`Record`] carried by every ring, and the constants giving its fields meaning.
//!
//! The layout is the binary contract of `docs/ring-layout.md`; it is checked at compile time
//! below (size, alignment and every field offset) and exported by [`record_layout`] so the
//! Python/Cython copies can be compared against it byte for byte.

use core::mem::{align_of, offset_of, size_of};

/// One ring record: exactly one 64-byte cache line, little-endian, `#[repr(C)]`.
///
/// Every bit pattern is a valid `Record` (all fields are plain integers), which is what lets the
/// ring hand out `&[Record]`/`&mut [Record]` views of shared memory directly.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Record {
    /// Record kind, see [`kind`].
    pub kind: u16,
    /// Instrument id from the registry (1-based; 0 = none).
    pub instrument: u16,
    /// 0 = bid/buy, 1 = ask/sell, 255 = none (see [`side`]); for `QUOTE`: a [`withdraw`] reason.
    pub side: u8,
    /// Bit flags, see [`flags`].
    pub flags: u8,
    /// Producer/ring id (inputs); ladder level index (quotes).
    pub source: u16,
    /// Venue sequence (final update id, trade id); output sequence on outbound records.
    pub seq: u64,
    /// Venue event time, ns since the epoch.
    pub ts_event: i64,
    /// Local receive time, ns since the epoch: the only clock the core sees.
    pub ts_recv: i64,
    /// Fixed-point price in the instrument's price scale.
    pub price: i64,
    /// Fixed-point quantity in the instrument's quantity scale.
    pub qty: i64,
    /// Kind-specific field.
    pub aux: i64,
    /// Producer's monotonic clock (ns) when pushed; only for latency measurement.
    pub ts_send: i64,
}

impl Record {
    /// The all-zero record (also [`Record::default()`], usable in `const` contexts).
    pub const ZERO: Record = Record {
        kind: 0,
        instrument: 0,
        side: 0,
        flags: 0,
        source: 0,
        seq: 0,
        ts_event: 0,
        ts_recv: 0,
        price: 0,
        qty: 0,
        aux: 0,
        ts_send: 0,
    };

    /// An all-zero record of the given kind.
    #[must_use]
    pub const fn new(kind: u16) -> Record {
        Record {
            kind,
            ..Record::ZERO
        }
    }

    /// Whether every bit of `flag` is set in `self.flags`.
    #[must_use]
    pub const fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }
}

const _: () = assert!(size_of::<Record>() == 64);
const _: () = assert!(align_of::<Record>() == 64);
const _: () = assert!(size_of::<Record>() == crate::layout::RECORD_SIZE);
const _: () = assert!(offset_of!(Record, kind) == 0);
const _: () = assert!(offset_of!(Record, instrument) == 2);
const _: () = assert!(offset_of!(Record, side) == 4);
const _: () = assert!(offset_of!(Record, flags) == 5);
const _: () = assert!(offset_of!(Record, source) == 6);
const _: () = assert!(offset_of!(Record, seq) == 8);
const _: () = assert!(offset_of!(Record, ts_event) == 16);
const _: () = assert!(offset_of!(Record, ts_recv) == 24);
const _: () = assert!(offset_of!(Record, price) == 32);
const _: () = assert!(offset_of!(Record, qty) == 40);
const _: () = assert!(offset_of!(Record, aux) == 48);
const _: () = assert!(offset_of!(Record, ts_send) == 56);

/// `(name, offset, size)` of every [`Record`] field in offset order, taken from `offset_of!`.
#[must_use]
pub fn record_layout() -> [(&'static str, usize, usize); 12] {
    macro_rules! field {
        ($name:ident, $ty:ty) => {
            (
                stringify!($name),
                offset_of!(Record, $name),
                size_of::<$ty>(),
            )
        };
    }
    [
        field!(kind, u16),
        field!(instrument, u16),
        field!(side, u8),
        field!(flags, u8),
        field!(source, u16),
        field!(seq, u64),
        field!(ts_event, i64),
        field!(ts_recv, i64),
        field!(price, i64),
        field!(qty, i64),
        field!(aux, i64),
        field!(ts_send, i64),
    ]
}

/// Values of [`Record::kind`].
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
    /// Input: operator command or live parameter change; `side` = [`super::control`] command.
    pub const CONTROL: u16 = 20;
    /// Input: an execution report of a hedge order from a venue gateway (docs/hedging.md).
    pub const VENUE_REPORT: u16 = 13;
    /// Input: a venue's link state (up / down) from a venue gateway (docs/hedging.md).
    pub const VENUE_STATUS: u16 = 14;
    /// Input: a desk order for (or a cancel in) the internal crossing book (docs/hedging.md).
    pub const DESK_ORDER: u16 = 15;
    /// Output: one ladder level of a composite quote (`price` = bid, `aux` = ask).
    pub const QUOTE: u16 = 100;
    /// Output: a venue book changed state; `aux` is a [`super::book_status`] value.
    pub const BOOK_STATUS: u16 = 101;
    /// Output: an input record was refused; `aux` is a [`super::reject`] reason.
    pub const REJECT: u16 = 102;
    /// Output: one side of a firm quote to a client.
    pub const RFQ_QUOTE: u16 = 110;
    /// Output: an RFQ was refused; `aux` is an [`super::rfq_reject`] reason.
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
    /// Output: a hedge order for a venue gateway to send (docs/hedging.md).
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

/// `CONTROL` commands, carried in [`Record::side`] (docs/rfq-protocol.md).
pub mod control {
    /// Kill switch on/off for a scope.
    pub const KILL: u8 = 1;
    /// Clear a repeated-execution halt.
    pub const REENABLE: u8 = 2;
    /// Restricted list on/off for an instrument.
    pub const RESTRICT: u8 = 3;
    /// Change a client field.
    pub const SET_CLIENT: u8 = 4;
    /// Change an instrument risk field.
    pub const SET_INSTRUMENT: u8 = 5;
    /// Change a tier field.
    pub const SET_TIER: u8 = 6;
    /// Change a pricing field.
    pub const SET_PRICING: u8 = 7;
    /// Change a desk field.
    pub const SET_DESK: u8 = 8;
    /// Approve a pending RFQ.
    pub const APPROVE: u8 = 9;
    /// Decline a pending RFQ.
    pub const DECLINE: u8 = 10;
    /// The desk cancels a live quote.
    pub const CANCEL_QUOTE: u8 = 11;
    /// Change a composite's hedging policy (docs/hedging.md).
    pub const SET_HEDGE: u8 = 12;
    /// Change a composite's pricing v1 ladder sizes: field 1 = size at index `aux` (appends at
    /// the end), field 2 = keep the first `qty` sizes.
    pub const SET_LADDER: u8 = 13;
    /// Include (`qty` 1) or exclude (0) member instrument `price` of composite `instrument`.
    pub const SET_MEMBER: u8 = 14;
}

/// `QUOTE_END` states, carried in [`Record::aux`].
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

/// Reasons of `RFQ_REJECT`, `ACCEPT_REJECT`, `CANCEL_REJECT` and `CONTROL_ACK`.
pub mod rfq_reject {
    /// Not a composite.
    pub const UNKNOWN_INSTRUMENT: i64 = 20;
    /// Below the instrument's minimum size.
    pub const BELOW_MIN_SIZE: i64 = 21;
    /// Above the instrument's maximum size.
    pub const ABOVE_MAX_SIZE: i64 = 22;
    /// No usable market (or not deep enough).
    pub const NO_MARKET: i64 = 23;
    /// Market data stale.
    pub const STALE_MARKET: i64 = 24;
    /// Price worse than the client's limit.
    pub const EXCEEDS_LIMIT: i64 = 25;
    /// Credit limit.
    pub const INSUFFICIENT_CREDIT: i64 = 26;
    /// Rate throttle.
    pub const THROTTLED: i64 = 27;
    /// Kill switch.
    pub const KILL_SWITCH: i64 = 28;
    /// Client disabled, or the quote belongs to another client.
    pub const NOT_AUTHORISED: i64 = 29;
    /// Client RFQ id reused.
    pub const DUPLICATE_ID: i64 = 30;
    /// Internal limit (e.g. quote table full).
    pub const OTHER: i64 = 31;
    /// Notional above the instrument's maximum.
    pub const ABOVE_MAX_NOTIONAL: i64 = 32;
    /// Desk position limit.
    pub const POSITION_LIMIT: i64 = 33;
    /// Price too far from the composite mid.
    pub const PRICE_COLLAR: i64 = 34;
    /// Too many live quotes for the client.
    pub const MAX_OPEN_QUOTES: i64 = 35;
    /// Halted by the repeated-execution throttle.
    pub const HALTED: i64 = 36;
    /// Restricted instrument.
    pub const RESTRICTED: i64 = 37;
    /// Accept at or after the quote's expiry.
    pub const TOO_LATE: i64 = 38;
    /// No such quote.
    pub const UNKNOWN_QUOTE: i64 = 39;
    /// Quote already ended.
    pub const QUOTE_NOT_LIVE: i64 = 40;
    /// Accept price differs from the quote.
    pub const PRICE_MISMATCH: i64 = 41;
    /// Accept size differs from the quote.
    pub const SIZE_MISMATCH: i64 = 42;
    /// Bad or unquoted side.
    pub const BAD_SIDE: i64 = 43;
    /// Size ≤ 0.
    pub const BAD_SIZE: i64 = 44;
    /// An operator declined.
    pub const APPROVAL_DECLINED: i64 = 45;
    /// Approval timed out.
    pub const APPROVAL_TIMEOUT: i64 = 46;
    /// Negative limit price.
    pub const BAD_LIMIT: i64 = 47;
    /// Client not in the registry.
    pub const UNKNOWN_CLIENT: i64 = 48;
    /// Bad requested TTL.
    pub const BAD_TTL: i64 = 49;
    /// Bad control command, field, scope or value.
    pub const BAD_COMMAND: i64 = 50;
    /// No pending approval with that id.
    pub const UNKNOWN_REQUEST: i64 = 51;
    /// Composite crossed.
    pub const CROSSED_MARKET: i64 = 52;
    /// Missing `END` flag or zero id.
    pub const MALFORMED: i64 = 53;
    /// Hedging is configured but impossible (no venue up with a usable book): no quoting.
    pub const HEDGE_UNAVAILABLE: i64 = 54;
    /// Hedge order refused: venue order size or position limit.
    pub const HEDGE_VENUE_LIMIT: i64 = 55;
    /// Hedge order refused: its limit price is outside the composite's collar.
    pub const HEDGE_COLLAR: i64 = 56;
    /// Hedge order not sent: no usable liquidity on any venue up.
    pub const HEDGE_NO_LIQUIDITY: i64 = 57;
    /// Venue input for a venue id (or instrument) that is not configured.
    pub const UNKNOWN_VENUE: i64 = 58;
    /// Venue report with an unknown report type.
    pub const BAD_REPORT: i64 = 59;
    /// Venue report refused by the OMS: 60 + the `rfq_oms::OmsError` index (docs/hedging.md).
    pub const OMS_BASE: i64 = 60;
    /// A desk order for a composite without an internal crossing book.
    pub const NO_INTERNAL_BOOK: i64 = 76;
    /// A desk order the internal book refused: 80 + the `rfq_match::RejectReason` index.
    pub const MATCH_BASE: i64 = 80;
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

/// Bits of [`Record::flags`].
pub mod flags {
    /// Last record of one venue message: the book is consistent after it.
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

/// Values of [`Record::side`] (for every kind except `QUOTE`).
pub mod side {
    /// Bid side of a book.
    pub const BID: u8 = 0;
    /// Ask side of a book.
    pub const ASK: u8 = 1;
    /// Buy aggressor (same value as [`BID`]).
    pub const BUY: u8 = 0;
    /// Sell aggressor (same value as [`ASK`]).
    pub const SELL: u8 = 1;
    /// No side; for `RFQ`: two-way.
    pub const NONE: u8 = 255;
    /// `RFQ`: two-way (same value as [`NONE`]).
    pub const TWO_WAY: u8 = 255;
}

/// `QUOTE` withdrawal reasons, carried in [`Record::side`] of a `QUOTE` record.
pub mod withdraw {
    /// Not withdrawn.
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

/// `BOOK_STATUS` values, carried in [`Record::aux`].
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

/// `REJECT` reasons, carried in [`Record::aux`].
pub mod reject {
    /// Unknown record kind.
    pub const UNKNOWN_KIND: i64 = 1;
    /// Unknown instrument id.
    pub const UNKNOWN_INSTRUMENT: i64 = 2;
    /// Side is neither bid nor ask.
    pub const BAD_SIDE: i64 = 3;
    /// Price ≤ 0.
    pub const NON_POSITIVE_PRICE: i64 = 4;
    /// Negative quantity.
    pub const NEGATIVE_QTY: i64 = 5;
    /// Price not a multiple of the tick.
    pub const OFF_TICK: i64 = 6;
    /// Quantity not a multiple of the lot.
    pub const OFF_LOT: i64 = 7;
    /// Quantity above the instrument maximum.
    pub const QTY_ABOVE_MAX: i64 = 8;
    /// Level outside the book while a snapshot is building.
    pub const LEVEL_OUTSIDE_BOOK: i64 = 9;
    /// Book level capacity exceeded.
    pub const BOOK_CAPACITY: i64 = 10;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous_and_64_bytes() {
        let l = record_layout();
        let mut end = 0;
        for (name, off, size) in l {
            assert_eq!(off, end, "field {name} not contiguous");
            end = off + size;
        }
        assert_eq!(end, 64);
    }

    #[test]
    fn zero_is_default() {
        assert_eq!(Record::ZERO, Record::default());
        assert_eq!(Record::new(kind::TRADE).kind, 4);
    }

    #[test]
    fn flags_helper() {
        let r = Record {
            flags: flags::END | flags::BID_VALID,
            ..Record::ZERO
        };
        assert!(r.has_flag(flags::END));
        assert!(r.has_flag(flags::END | flags::BID_VALID));
        assert!(!r.has_flag(flags::ASK_VALID));
    }
}
