//! Reconciliation after a reconnect: the venue's view ([`VenueSnapshot`]), what
//! [`Oms::reconcile`] did or found ([`ReconAction`]), and the three steps (fills, the venue's
//! open orders, our open orders it does not have).

use crate::{ClOrdId, ExecId, Oms, OmsError, OrderState, Outcome, ReportKind, VenueId, VenueOrderId, VenueReport};

/// An open order as the venue reports it in a reconnect snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueOpenOrder {
    /// Client order id the venue holds.
    pub cl_ord_id: ClOrdId,
    /// Venue order id.
    pub venue_order_id: VenueOrderId,
    /// The venue's cumulative filled quantity.
    pub cum_qty: i64,
}

/// A fill as the venue reports it in a reconnect snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueFill {
    /// Client order id.
    pub cl_ord_id: ClOrdId,
    /// Venue order id.
    pub venue_order_id: VenueOrderId,
    /// Exec id (the same id the live report carried).
    pub exec_id: ExecId,
    /// Quantity.
    pub qty: i64,
    /// Price.
    pub price: i64,
    /// Fee.
    pub fee: i64,
}

/// The venue's view after a reconnect: its open orders and its recent fills.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenueSnapshot {
    /// Orders open at the venue.
    pub open: Vec<VenueOpenOrder>,
    /// Fills of the recent window (may include fills we already have).
    pub fills: Vec<VenueFill>,
}

/// One corrective action or finding of [`Oms::reconcile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconAction {
    /// A fill we had missed, now applied; the order's new state.
    FillApplied {
        /// Order.
        cl_ord_id: ClOrdId,
        /// The fill's exec id.
        exec_id: ExecId,
        /// State after the fill.
        state: OrderState,
    },
    /// A snapshot fill the OMS refused (e.g. overfill): flagged for an operator.
    FillRefused {
        /// Order.
        cl_ord_id: ClOrdId,
        /// The fill's exec id.
        exec_id: ExecId,
        /// Why.
        reason: OmsError,
    },
    /// A snapshot fill for an order we do not have at this venue: flagged, not booked.
    UnknownFill {
        /// Client order id the venue gave.
        cl_ord_id: ClOrdId,
        /// The fill's exec id.
        exec_id: ExecId,
    },
    /// An order we had sent is open at the venue: now acknowledged (venue id mapped).
    Acknowledged {
        /// Order.
        cl_ord_id: ClOrdId,
        /// Venue order id.
        venue_order_id: VenueOrderId,
    },
    /// Open at the venue but pending cancel or closed here: send a cancel to the venue.
    CancelAtVenue {
        /// Order.
        cl_ord_id: ClOrdId,
        /// Venue order id.
        venue_order_id: VenueOrderId,
    },
    /// The venue's cumulative quantity exceeds ours and the missing fills are not in the
    /// snapshot: flagged (ask the venue for the fills).
    FillGap {
        /// Order.
        cl_ord_id: ClOrdId,
        /// Venue's cumulative quantity.
        venue_cum: i64,
        /// Ours.
        ours: i64,
    },
    /// Open here, unknown to the venue: closed here as `Cancelled` with what it filled.
    ClosedNotAtVenue {
        /// Order.
        cl_ord_id: ClOrdId,
        /// Its filled quantity.
        filled: i64,
    },
    /// Open at the venue, not ours (or ours at another venue): flagged, not adopted.
    UnknownVenueOrder {
        /// Client order id the venue gave.
        cl_ord_id: ClOrdId,
        /// Venue order id.
        venue_order_id: VenueOrderId,
    },
}

impl Oms {
    /// Reconcile a venue after a reconnect against its snapshot, in this order:
    /// 1. snapshot fills, by exec id: new ones applied (`FillApplied`), known ones skipped,
    ///    refused ones `FillRefused`, unknown orders `UnknownFill`;
    /// 2. snapshot open orders, by client order id: not ours → `UnknownVenueOrder`; ours and
    ///    unacknowledged and not terminal → acknowledged (`Acknowledged`); ours and pending
    ///    cancel or terminal → `CancelAtVenue`; venue cum qty above ours → `FillGap`;
    /// 3. our open orders of the venue absent from the snapshot, by client order id →
    ///    `Cancelled` (`ClosedNotAtVenue`).
    ///
    /// Clears the venue's disconnected mark and the orders' `disconnected` flags.
    pub fn reconcile(&mut self, venue: VenueId, snap: &VenueSnapshot) -> Vec<ReconAction> {
        let mut actions = Vec::new();
        self.reconcile_into(venue, snap, &mut actions);
        actions
    }

    /// [`Oms::reconcile`] appending to `actions`: with an empty snapshot (the venue holds
    /// nothing open) and room in `actions`, nothing allocates.
    pub fn reconcile_into(&mut self, venue: VenueId, snap: &VenueSnapshot, actions: &mut Vec<ReconAction>) {
        let mut fills = snap.fills.clone();
        fills.sort_by_key(|f| (f.exec_id, f.cl_ord_id));
        for f in &fills {
            self.recon_fill(venue, f, actions);
        }
        let mut open = snap.open.clone();
        open.sort_by_key(|v| (v.cl_ord_id, v.venue_order_id));
        open.dedup_by_key(|v| v.cl_ord_id);
        for v in &open {
            self.recon_open(venue, v, actions);
        }
        self.close_not_at_venue(venue, &open, actions);
        self.disconnected.remove(venue);
    }

    /// Step 1: one snapshot fill, applied like a live fill report.
    fn recon_fill(&mut self, venue: VenueId, f: &VenueFill, actions: &mut Vec<ReconAction>) {
        let r = VenueReport {
            venue,
            cl_ord_id: f.cl_ord_id,
            venue_order_id: f.venue_order_id,
            exec_id: f.exec_id,
            kind: ReportKind::PartialFill { qty: f.qty, price: f.price, fee: f.fee },
        };
        let (cl_ord_id, exec_id) = (f.cl_ord_id, f.exec_id);
        match self.apply(&r) {
            Ok(Outcome::Applied(state)) => actions.push(ReconAction::FillApplied { cl_ord_id, exec_id, state }),
            Ok(_) => {}
            Err(OmsError::UnknownOrder | OmsError::VenueMismatch) => actions.push(ReconAction::UnknownFill { cl_ord_id, exec_id }),
            Err(reason) => actions.push(ReconAction::FillRefused { cl_ord_id, exec_id, reason }),
        }
    }

    /// Step 2: one order open at the venue.
    fn recon_open(&mut self, venue: VenueId, v: &VenueOpenOrder, actions: &mut Vec<ReconAction>) {
        let (cl_ord_id, venue_order_id) = (v.cl_ord_id, v.venue_order_id);
        let Some(o) = self.orders.get(&cl_ord_id).filter(|o| o.req.venue == venue) else {
            return actions.push(ReconAction::UnknownVenueOrder { cl_ord_id, venue_order_id });
        };
        let (state, acked) = (o.state, o.acked);
        if !acked && !state.is_terminal() {
            self.implied_ack(venue, v);
            actions.push(ReconAction::Acknowledged { cl_ord_id, venue_order_id });
        }
        if state == OrderState::PendingCancel || state.is_terminal() {
            actions.push(ReconAction::CancelAtVenue { cl_ord_id, venue_order_id });
        }
        let ours = self.orders[&cl_ord_id].filled;
        if v.cum_qty > ours {
            actions.push(ReconAction::FillGap { cl_ord_id, venue_cum: v.cum_qty, ours });
        }
    }

    /// An order open at the venue that we never saw acknowledged: acknowledged now, venue id
    /// mapped if free (the snapshot carries no exec id for it).
    fn implied_ack(&mut self, venue: VenueId, v: &VenueOpenOrder) {
        let o = self.orders.get_mut(&v.cl_ord_id).expect("checked");
        o.acked = true;
        if matches!(o.state, OrderState::New | OrderState::PendingNew) {
            o.state = OrderState::Acknowledged;
        }
        if o.venue_order_id.is_none() && !self.by_venue_id.contains_key(&(venue, v.venue_order_id)) {
            o.venue_order_id = Some(v.venue_order_id);
            self.by_venue_id.insert((venue, v.venue_order_id), v.cl_ord_id);
        }
    }

    /// Step 3: our open orders of the venue absent from its open list are closed as
    /// `Cancelled`; every order of the venue loses its `disconnected` flag.
    fn close_not_at_venue(&mut self, venue: VenueId, open: &[VenueOpenOrder], actions: &mut Vec<ReconAction>) {
        for (id, o) in self.orders.iter_mut().filter(|(_, o)| o.req.venue == venue) {
            o.disconnected = false;
            if o.state.is_open() && open.binary_search_by_key(id, |v| v.cl_ord_id).is_err() {
                o.state = OrderState::Cancelled;
                actions.push(ReconAction::ClosedNotAtVenue { cl_ord_id: *id, filled: o.filled });
            }
        }
    }
}
