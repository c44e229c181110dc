//! Venue execution reports ([`VenueReport`], [`ReportKind`]) and what applying one did
//! ([`Outcome`]).

use crate::{ClOrdId, ExecId, OrderState, VenueId, VenueOrderId};

/// What a venue report says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// The venue accepted the order.
    Ack,
    /// The venue refused the new order (`reason` = venue code).
    Reject {
        /// Venue reason code.
        reason: u16,
    },
    /// A fill that leaves quantity open (as labelled by the venue).
    PartialFill {
        /// This fill's quantity (> 0).
        qty: i64,
        /// This fill's price (> 0).
        price: i64,
        /// This fill's fee (negative = rebate).
        fee: i64,
    },
    /// A fill the venue labels as the last one. The OMS derives the state from the
    /// cumulative quantity, not from the label (reports may arrive out of order).
    Fill {
        /// This fill's quantity (> 0).
        qty: i64,
        /// This fill's price (> 0).
        price: i64,
        /// This fill's fee (negative = rebate).
        fee: i64,
    },
    /// The venue cancelled the order (requested or unsolicited).
    CancelAck,
    /// The venue refused a cancel request.
    CancelReject {
        /// Venue reason code.
        reason: u16,
    },
    /// The venue expired the order.
    Expired,
}

/// An execution report from a venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueReport {
    /// Reporting venue.
    pub venue: VenueId,
    /// The order's client order id.
    pub cl_ord_id: ClOrdId,
    /// The venue's order id (0 = not given).
    pub venue_order_id: VenueOrderId,
    /// Unique per venue report id (≠ 0): the idempotency key.
    pub exec_id: ExecId,
    /// What happened.
    pub kind: ReportKind,
}

/// The result of an accepted venue report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; the order's new state.
    Applied(OrderState),
    /// Exec id already applied: ignored, nothing changed.
    Duplicate,
    /// Stale (e.g. an ack after a fill, a cancel ack after the full fill): ignored, nothing
    /// changed; the order's current state.
    Ignored(OrderState),
}
