//! [`NewOrder`] (the desk's request) and [`Order`] (what the OMS knows of it).

use crate::{ClOrdId, InstrumentId, OrderState, Side, VenueId, VenueOrderId};

/// A new-order request from the desk (hedger, router).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Client order id, ≠ 0, never reused.
    pub cl_ord_id: ClOrdId,
    /// Venue the order goes to.
    pub venue: VenueId,
    /// Instrument at that venue.
    pub instrument: InstrumentId,
    /// `Bid` buys, `Ask` sells.
    pub side: Side,
    /// Limit price (fixed point); 0 = market.
    pub price: i64,
    /// Quantity (fixed point), > 0.
    pub qty: i64,
}

/// One order as the OMS knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// The request it was created from.
    pub req: NewOrder,
    /// Current state.
    pub state: OrderState,
    /// Cumulative filled quantity (sum of the distinct fills); never decreases, never > qty.
    pub filled: i64,
    /// Σ price × qty of the fills.
    pub notional: i128,
    /// Σ fees of the fills (quote fixed point; negative = rebate).
    pub fees: i128,
    /// The venue's order id, once reported.
    pub venue_order_id: Option<VenueOrderId>,
    /// The venue has reported on it (ack, fill, cancel…): it knows the order.
    pub acked: bool,
    /// Marked by [`Oms::disconnect`]; cleared by [`Oms::reconcile`].
    pub disconnected: bool,
    /// The venue's reason code of the last reject / cancel reject (0 = none).
    pub venue_reason: u16,
}

impl Order {
    /// Quantity still working: 0 once terminal.
    pub fn leaves(&self) -> i64 {
        if self.state.is_terminal() {
            0
        } else {
            self.req.qty - self.filled
        }
    }

    /// Average fill price, truncated toward zero; `None` before the first fill.
    pub fn avg_price(&self) -> Option<i64> {
        (self.filled > 0).then(|| (self.notional / i128::from(self.filled)) as i64)
    }

    /// The state a pending cancel falls back to when the venue refuses it.
    pub(crate) fn working_state(&self) -> OrderState {
        if self.filled > 0 {
            OrderState::PartiallyFilled
        } else if self.acked {
            OrderState::Acknowledged
        } else {
            OrderState::PendingNew
        }
    }
}
