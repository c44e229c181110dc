//! [`OmsError`]: why an input was refused (a refused input changes no state).

/// Why an input was refused. A refused input changes no state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OmsError {
    /// New order: client order id 0.
    BadClOrdId,
    /// New order: the client order id is known (any state; ids are never reused).
    DuplicateClOrdId,
    /// Quantity ≤ 0.
    BadQty,
    /// Price < 0 on a new order, ≤ 0 on a fill.
    BadPrice,
    /// No order with this client order id.
    UnknownOrder,
    /// `mark_sent` on an order already sent.
    AlreadySent,
    /// Cancel of an order in a terminal state.
    OrderClosed,
    /// Cancel of an order already pending cancel.
    CancelPending,
    /// `mark_sent` while the venue is disconnected.
    VenueDisconnected,
    /// Report from another venue than the order's.
    VenueMismatch,
    /// Report with exec id 0.
    BadExecId,
    /// Report's venue order id differs from the one already mapped.
    VenueOrderIdMismatch,
    /// Report's venue order id is mapped to another order.
    VenueOrderIdInUse,
    /// A fill would take the cumulative quantity above the order quantity.
    Overfill,
    /// A reject for an order the venue already acknowledged or filled.
    RejectAfterAck,
    /// A fill for an order the venue rejected.
    FillOnRejected,
    /// No room: the order table is full of open orders (new order), or the exec-id or
    /// position table is full (report); see [`crate::Oms::with_capacity`]. Index 17: 16 is
    /// skipped, as `OMS_BASE + 16` is another wire code (`NO_INTERNAL_BOOK`).
    Full = 17,
}

impl OmsError {
    /// A stable index (0..=15, and 17 for `Full`) for records (`rfq_reject::OMS_BASE` + index).
    pub fn index(self) -> u8 {
        self as u8
    }
}
