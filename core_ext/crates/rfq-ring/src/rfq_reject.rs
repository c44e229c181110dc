//! Reject reasons of the RFQ workflow and hedging: `aux` of `RFQ_REJECT`, `ACCEPT_REJECT`,
//! `CANCEL_REJECT`, `CONTROL_ACK`, `HEDGE_REJECT` and `DESK_ORDER_EVENT`.
//!
//! Part of the one source of wire codes (see `codes.rs`); `tools/wire_codes.py` generates the
//! Python `RfqReject` enum and the reason table of `docs/rfq-protocol.md` from it.

/// Reasons of `RFQ_REJECT`, `ACCEPT_REJECT`, `CANCEL_REJECT`, `CONTROL_ACK` and hedging refusals.
pub mod rfq_reject {
    /// Not a composite.
    pub const UNKNOWN_INSTRUMENT: i64 = 20;
    /// Size < min qty.
    pub const BELOW_MIN_SIZE: i64 = 21;
    /// Size > max qty.
    pub const ABOVE_MAX_SIZE: i64 = 22;
    /// No usable book, or not enough depth for the size.
    pub const NO_MARKET: i64 = 23;
    /// Member books stale.
    pub const STALE_MARKET: i64 = 24;
    /// The price is worse than the client's limit price.
    pub const EXCEEDS_LIMIT: i64 = 25;
    /// The client's open exposure after the fill would exceed its credit limit.
    pub const INSUFFICIENT_CREDIT: i64 = 26;
    /// RFQ or accept rate above the client's throttle.
    pub const THROTTLED: i64 = 27;
    /// A kill switch covers the client or instrument and the trade is not risk-reducing.
    pub const KILL_SWITCH: i64 = 28;
    /// Disabled client (another client's quote is `UNKNOWN_QUOTE`, as an id that does not exist).
    pub const NOT_AUTHORISED: i64 = 29;
    /// Client RFQ id already used by this client.
    pub const DUPLICATE_ID: i64 = 30;
    /// Internal limits (quote table full).
    pub const OTHER: i64 = 31;
    /// Notional above the instrument's max.
    pub const ABOVE_MAX_NOTIONAL: i64 = 32;
    /// The desk position after the fill would exceed its long/short limit.
    pub const POSITION_LIMIT: i64 = 33;
    /// The price is further than the collar from the composite mid.
    pub const PRICE_COLLAR: i64 = 34;
    /// The client already has its maximum of live quotes.
    pub const MAX_OPEN_QUOTES: i64 = 35;
    /// Client or instrument halted by the repeated-execution throttle.
    pub const HALTED: i64 = 36;
    /// Instrument on the restricted list.
    pub const RESTRICTED: i64 = 37;
    /// Accept at or after `valid_until`.
    pub const TOO_LATE: i64 = 38;
    /// No such quote id, or one that belongs to another client (the same answer either way).
    pub const UNKNOWN_QUOTE: i64 = 39;
    /// Quote already filled, rejected or cancelled.
    pub const QUOTE_NOT_LIVE: i64 = 40;
    /// Accept price ≠ quoted price.
    pub const PRICE_MISMATCH: i64 = 41;
    /// Accept size ≠ quoted size (or above it / off-lot for partial quotes).
    pub const SIZE_MISMATCH: i64 = 42;
    /// Side not 0/1/255, or a side the quote does not have.
    pub const BAD_SIDE: i64 = 43;
    /// Size ≤ 0.
    pub const BAD_SIZE: i64 = 44;
    /// An operator declined.
    pub const APPROVAL_DECLINED: i64 = 45;
    /// Nobody answered in time.
    pub const APPROVAL_TIMEOUT: i64 = 46;
    /// Negative limit price.
    pub const BAD_LIMIT: i64 = 47;
    /// Client id not in the registry.
    pub const UNKNOWN_CLIENT: i64 = 48;
    /// Negative TTL or above the tier maximum.
    pub const BAD_TTL: i64 = 49;
    /// Unknown control command/field, bad scope or value.
    pub const BAD_COMMAND: i64 = 50;
    /// No pending approval with that id.
    pub const UNKNOWN_REQUEST: i64 = 51;
    /// The composite is crossed.
    pub const CROSSED_MARKET: i64 = 52;
    /// Missing `END` flag, `seq` 0.
    pub const MALFORMED: i64 = 53;
    /// The composite has a hedging policy and no venue can hedge now (RFQs; risk-increasing accepts).
    pub const HEDGE_UNAVAILABLE: i64 = 54;
    /// Hedge order refused: venue order size or position limit.
    pub const HEDGE_VENUE_LIMIT: i64 = 55;
    /// Hedge order refused: its limit price is outside the composite's collar.
    pub const HEDGE_COLLAR: i64 = 56;
    /// Hedge order not sent: no usable liquidity on any venue up.
    pub const HEDGE_NO_LIQUIDITY: i64 = 57;
    /// Venue input for a venue id (or instrument) that is not configured.
    pub const UNKNOWN_VENUE: i64 = 58;
    /// Venue report with an unknown report type, or a fill without a positive price and quantity.
    pub const BAD_REPORT: i64 = 59;
    /// OMS refused a venue report (60 + `OmsError::index`): client order id 0.
    pub const OMS_BAD_CL_ORD_ID: i64 = 60;
    /// OMS: the client order id is known.
    pub const OMS_DUPLICATE_CL_ORD_ID: i64 = 61;
    /// OMS: quantity ≤ 0.
    pub const OMS_BAD_QTY: i64 = 62;
    /// OMS: bad price.
    pub const OMS_BAD_PRICE: i64 = 63;
    /// OMS: no order with this client order id.
    pub const OMS_UNKNOWN_ORDER: i64 = 64;
    /// OMS: order already sent.
    pub const OMS_ALREADY_SENT: i64 = 65;
    /// OMS: order in a terminal state.
    pub const OMS_ORDER_CLOSED: i64 = 66;
    /// OMS: cancel already pending.
    pub const OMS_CANCEL_PENDING: i64 = 67;
    /// OMS: venue disconnected.
    pub const OMS_VENUE_DISCONNECTED: i64 = 68;
    /// OMS: report from another venue than the order's.
    pub const OMS_VENUE_MISMATCH: i64 = 69;
    /// OMS: report with exec id 0.
    pub const OMS_BAD_EXEC_ID: i64 = 70;
    /// OMS: the venue order id differs from the one already mapped.
    pub const OMS_VENUE_ORDER_ID_MISMATCH: i64 = 71;
    /// OMS: the venue order id is mapped to another order.
    pub const OMS_VENUE_ORDER_ID_IN_USE: i64 = 72;
    /// OMS: a fill would take the cumulative quantity above the order quantity.
    pub const OMS_OVERFILL: i64 = 73;
    /// OMS: a reject after the venue's ack.
    pub const OMS_REJECT_AFTER_ACK: i64 = 74;
    /// OMS: a fill on a rejected order.
    pub const OMS_FILL_ON_REJECTED: i64 = 75;
    /// A desk order for a composite without an internal crossing book.
    pub const NO_INTERNAL_BOOK: i64 = 76;
    /// OMS: its order table is full of open orders (none finished to prune), docs/oms.md.
    pub const OMS_FULL: i64 = 77;
    /// Internal book refused a desk order (80 + `rfq_match::RejectReason` index): unknown order.
    pub const MATCH_UNKNOWN_ORDER: i64 = 80;
    /// Internal book: duplicate order id.
    pub const MATCH_DUPLICATE_ID: i64 = 81;
    /// Internal book: unknown account.
    pub const MATCH_UNKNOWN_ACCOUNT: i64 = 82;
    /// Internal book: bad quantity.
    pub const MATCH_BAD_QTY: i64 = 83;
    /// Internal book: quantity off the lot.
    pub const MATCH_OFF_LOT: i64 = 84;
    /// Internal book: bad price.
    pub const MATCH_BAD_PRICE: i64 = 85;
    /// Internal book: price off the tick.
    pub const MATCH_OFF_TICK: i64 = 86;
    /// Internal book: price outside the band.
    pub const MATCH_PRICE_OUT_OF_BAND: i64 = 87;
    /// Internal book: invalid combination of order options.
    pub const MATCH_INVALID_COMBINATION: i64 = 88;
    /// Internal book: book full.
    pub const MATCH_BOOK_FULL: i64 = 89;
    /// Internal book: no liquidity.
    pub const MATCH_NO_LIQUIDITY: i64 = 90;
    /// Internal book: fill-or-kill not fillable.
    pub const MATCH_FOK_NOT_FILLABLE: i64 = 91;
    /// Internal book: post-only would take.
    pub const MATCH_POST_ONLY_WOULD_TAKE: i64 = 92;
    /// Base of the OMS refusals: 60 + the `rfq_oms::OmsError` index (docs/hedging.md).
    pub const OMS_BASE: i64 = OMS_BAD_CL_ORD_ID;
    /// Base of the internal book's refusals: 80 + the `rfq_match::RejectReason` index.
    pub const MATCH_BASE: i64 = MATCH_UNKNOWN_ORDER;
}
