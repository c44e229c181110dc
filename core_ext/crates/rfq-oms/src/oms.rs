//! [`Oms`]: the orders, the applied exec ids, the venue id map, the positions and the
//! disconnected venues; the desk's requests (new order, sent, cancel) and cancel-on-disconnect.
//! Venue reports are applied in `apply.rs`, reconciliation is in `reconcile.rs`.

use std::collections::{BTreeMap, BTreeSet};

use crate::{ClOrdId, ExecId, InstrumentId, NewOrder, OmsError, Order, OrderState, Position, VenueId, VenueOrderId};

/// The order management system: orders, applied exec ids, venue id map, positions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Oms {
    pub(crate) orders: BTreeMap<ClOrdId, Order>,
    pub(crate) by_venue_id: BTreeMap<(VenueId, VenueOrderId), ClOrdId>,
    pub(crate) seen: BTreeSet<(VenueId, ExecId)>,
    pub(crate) positions: BTreeMap<(VenueId, InstrumentId), Position>,
    pub(crate) disconnected: BTreeSet<VenueId>,
}

impl Oms {
    /// An empty OMS.
    pub fn new() -> Self {
        Self::default()
    }

    /// The order with this client order id.
    pub fn order(&self, cl_ord_id: ClOrdId) -> Option<&Order> {
        self.orders.get(&cl_ord_id)
    }

    /// All orders, by client order id.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// The client order id mapped to a venue order id.
    pub fn by_venue_order_id(&self, venue: VenueId, id: VenueOrderId) -> Option<ClOrdId> {
        self.by_venue_id.get(&(venue, id)).copied()
    }

    /// Position at (venue, instrument) (zero if none).
    pub fn position(&self, venue: VenueId, instrument: InstrumentId) -> Position {
        self.positions.get(&(venue, instrument)).copied().unwrap_or_default()
    }

    /// All non-zero-activity positions, by (venue, instrument).
    pub fn positions(&self) -> impl Iterator<Item = (&(VenueId, InstrumentId), &Position)> {
        self.positions.iter()
    }

    /// The venue is marked disconnected (between [`Oms::disconnect`] and [`Oms::reconcile`]).
    pub fn is_disconnected(&self, venue: VenueId) -> bool {
        self.disconnected.contains(&venue)
    }

    /// Record a new order (state `New`). Checks, in order: `BadClOrdId`, `DuplicateClOrdId`,
    /// `BadQty`, `BadPrice`.
    pub fn new_order(&mut self, req: &NewOrder) -> Result<(), OmsError> {
        if req.cl_ord_id == 0 {
            return Err(OmsError::BadClOrdId);
        }
        if self.orders.contains_key(&req.cl_ord_id) {
            return Err(OmsError::DuplicateClOrdId);
        }
        if req.qty <= 0 {
            return Err(OmsError::BadQty);
        }
        if req.price < 0 {
            return Err(OmsError::BadPrice);
        }
        self.orders.insert(
            req.cl_ord_id,
            Order {
                req: *req,
                state: OrderState::New,
                filled: 0,
                notional: 0,
                fees: 0,
                venue_order_id: None,
                acked: false,
                disconnected: false,
                venue_reason: 0,
            },
        );
        Ok(())
    }

    /// The order went out on the wire: `New → PendingNew`. Refused: `UnknownOrder`,
    /// `AlreadySent` (not `New`), `VenueDisconnected`.
    pub fn mark_sent(&mut self, cl_ord_id: ClOrdId) -> Result<(), OmsError> {
        let o = self.orders.get(&cl_ord_id).ok_or(OmsError::UnknownOrder)?;
        if o.state != OrderState::New {
            return Err(OmsError::AlreadySent);
        }
        if self.disconnected.contains(&o.req.venue) {
            return Err(OmsError::VenueDisconnected);
        }
        self.orders.get_mut(&cl_ord_id).expect("checked").state = OrderState::PendingNew;
        Ok(())
    }

    /// Request a cancel. An unsent (`New`) order is `Cancelled` at once (nothing to send);
    /// an open one becomes `PendingCancel` (send the cancel). Returns the new state.
    /// Refused: `UnknownOrder`, `OrderClosed` (terminal), `CancelPending`.
    pub fn request_cancel(&mut self, cl_ord_id: ClOrdId) -> Result<OrderState, OmsError> {
        let o = self.orders.get_mut(&cl_ord_id).ok_or(OmsError::UnknownOrder)?;
        o.state = match o.state {
            s if s.is_terminal() => return Err(OmsError::OrderClosed),
            OrderState::PendingCancel => return Err(OmsError::CancelPending),
            OrderState::New => OrderState::Cancelled,
            _ => OrderState::PendingCancel,
        };
        Ok(o.state)
    }

    /// Cancel-on-disconnect: mark the venue disconnected; every open order of it becomes
    /// `PendingCancel` with `disconnected` set (the venue's cancel-on-disconnect should cancel
    /// it; [`Oms::reconcile`] settles it), every unsent (`New`) order is `Cancelled`.
    /// Returns the affected client order ids, ascending. Fills may still be applied meanwhile.
    pub fn disconnect(&mut self, venue: VenueId) -> Vec<ClOrdId> {
        self.disconnected.insert(venue);
        let mut out = Vec::new();
        for (id, o) in self.orders.iter_mut().filter(|(_, o)| o.req.venue == venue) {
            if o.state == OrderState::New {
                o.state = OrderState::Cancelled;
            } else if o.state.is_open() {
                o.state = OrderState::PendingCancel;
                o.disconnected = true;
            } else {
                continue;
            }
            out.push(*id);
        }
        out
    }
}
