//! [`Oms`]: the orders, the applied exec ids, the venue id map, the positions and the
//! disconnected venues; the desk's requests (new order, sent, cancel) and cancel-on-disconnect.
//! Venue reports are applied in `apply.rs`, reconciliation is in `reconcile.rs`.
//!
//! Storage is bounded and reserved at construction (see [`Oms::with_capacity`]): nothing
//! allocates afterwards. When the order table is full, the oldest terminal orders are pruned.

use crate::store::{SortedMap, VenueSet};
use crate::{ClOrdId, ExecId, InstrumentId, NewOrder, OmsError, Order, OrderState, Position, VenueId, VenueOrderId};

/// Orders an [`Oms::new`] holds at most (open and terminal; terminal ones are pruned when full).
pub const DEFAULT_MAX_ORDERS: usize = 4096;
/// Applied exec ids kept per order slot (a bound of `EXEC_IDS_PER_ORDER × max_orders`).
pub const EXEC_IDS_PER_ORDER: usize = 8;
/// Distinct (venue, instrument) positions an OMS holds at most.
pub const MAX_POSITIONS: usize = 256;

/// Owner of an applied exec id restored from a snapshot (which does not carry it): kept.
pub(crate) const UNKNOWN_OWNER: ClOrdId = ClOrdId::MAX;

/// The order management system: orders, applied exec ids, venue id map, positions.
#[derive(Clone, Debug, Eq)]
pub struct Oms {
    pub(crate) orders: SortedMap<ClOrdId, Order>,
    pub(crate) by_venue_id: SortedMap<(VenueId, VenueOrderId), ClOrdId>,
    /// Applied exec ids, with the order each belongs to (dropped with it when pruned).
    pub(crate) seen: SortedMap<(VenueId, ExecId), ClOrdId>,
    pub(crate) positions: SortedMap<(VenueId, InstrumentId), Position>,
    pub(crate) disconnected: VenueSet,
    /// The newest pruned client order id (0 = none pruned): ids up to it may have been used,
    /// so a new order with one is refused as a duplicate.
    pub(crate) pruned_through: ClOrdId,
}

/// Equal state: the owners of applied exec ids are pruning bookkeeping (a snapshot does not
/// carry them), so only the exec ids themselves are compared.
impl PartialEq for Oms {
    fn eq(&self, other: &Self) -> bool {
        self.orders == other.orders
            && self.by_venue_id == other.by_venue_id
            && self.seen.len() == other.seen.len()
            && self.seen.iter().zip(other.seen.iter()).all(|(a, b)| a.0 == b.0)
            && self.positions == other.positions
            && self.disconnected == other.disconnected
            && self.pruned_through == other.pruned_through
    }
}

impl Default for Oms {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MAX_ORDERS)
    }
}

impl Oms {
    /// An empty OMS holding at most [`DEFAULT_MAX_ORDERS`] orders.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty OMS holding at most `max_orders` orders (≥ 1), `EXEC_IDS_PER_ORDER ×
    /// max_orders` applied exec ids and [`MAX_POSITIONS`] positions, all reserved now.
    pub fn with_capacity(max_orders: usize) -> Self {
        let n = max_orders.max(1);
        Oms {
            orders: SortedMap::with_capacity(n),
            by_venue_id: SortedMap::with_capacity(n),
            seen: SortedMap::with_capacity(n * EXEC_IDS_PER_ORDER),
            positions: SortedMap::with_capacity(MAX_POSITIONS),
            disconnected: VenueSet::new(),
            pruned_through: 0,
        }
    }

    /// Most orders held at once.
    pub fn max_orders(&self) -> usize {
        self.orders.cap()
    }

    /// The newest client order id pruned so far (0 = none): reports for pruned orders are
    /// refused as `UnknownOrder`, new orders with an id up to it as `DuplicateClOrdId`.
    pub fn pruned_through(&self) -> ClOrdId {
        self.pruned_through
    }

    /// The order with this client order id.
    pub fn order(&self, cl_ord_id: ClOrdId) -> Option<&Order> {
        self.orders.get(&cl_ord_id)
    }

    /// All orders, by client order id.
    pub fn orders(&self) -> impl Iterator<Item = &Order> + '_ {
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
    pub fn positions(&self) -> impl Iterator<Item = (&(VenueId, InstrumentId), &Position)> + '_ {
        self.positions.iter()
    }

    /// The venue is marked disconnected (between [`Oms::disconnect`] and [`Oms::reconcile`]).
    pub fn is_disconnected(&self, venue: VenueId) -> bool {
        self.disconnected.contains(venue)
    }

    /// Record a new order (state `New`). Checks, in order: `BadClOrdId`, `DuplicateClOrdId`
    /// (known, or at most [`Oms::pruned_through`]), `BadQty`, `BadPrice`, then room: a full
    /// table prunes its oldest terminal orders, and with none terminal refuses `Full`.
    pub fn new_order(&mut self, req: &NewOrder) -> Result<(), OmsError> {
        if req.cl_ord_id == 0 {
            return Err(OmsError::BadClOrdId);
        }
        if self.orders.contains_key(&req.cl_ord_id) || req.cl_ord_id <= self.pruned_through {
            return Err(OmsError::DuplicateClOrdId);
        }
        if req.qty <= 0 {
            return Err(OmsError::BadQty);
        }
        if req.price < 0 {
            return Err(OmsError::BadPrice);
        }
        if self.orders.is_full() && !self.prune(0) {
            return Err(OmsError::Full);
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
        if self.disconnected.contains(o.req.venue) {
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
        let mut out = Vec::new();
        self.disconnect_each(venue, |id| out.push(id));
        out
    }

    /// [`Oms::disconnect`] without allocating: `affected` gets each affected id, ascending.
    pub fn disconnect_each(&mut self, venue: VenueId, mut affected: impl FnMut(ClOrdId)) {
        self.disconnected.insert(venue);
        for (id, o) in self.orders.iter_mut().filter(|(_, o)| o.req.venue == venue) {
            if o.state == OrderState::New {
                o.state = OrderState::Cancelled;
            } else if o.state.is_open() {
                o.state = OrderState::PendingCancel;
                o.disconnected = true;
            } else {
                continue;
            }
            affected(*id);
        }
    }

    /// Make room: drop the oldest terminal orders (up to a quarter of the table, never order
    /// `keep`) with their exec ids and venue id mappings. False (nothing changed) when no
    /// order can go.
    pub(crate) fn prune(&mut self, keep: ClOrdId) -> bool {
        let quota = (self.orders.cap() / 4).max(1);
        let mut cut = None;
        let mut n = 0;
        for (id, o) in self.orders.iter() {
            if o.state.is_terminal() && *id != keep {
                cut = Some(*id);
                n += 1;
                if n == quota {
                    break;
                }
            }
        }
        let Some(cut) = cut else { return false };
        self.orders.retain(|id, o| !(o.state.is_terminal() && *id <= cut && *id != keep));
        let orders = &self.orders;
        self.seen.retain(|_, id| *id == UNKNOWN_OWNER || orders.contains_key(id));
        self.by_venue_id.retain(|_, id| orders.contains_key(id));
        self.pruned_through = self.pruned_through.max(cut);
        true
    }
}
