//! Order management for rfqcore: the state machine of the desk's orders at external venues.
//!
//! - [`Oms`] tracks every order the desk sends to a venue, from [`OrderState::New`] through
//!   `PendingNew` (sent), `Acknowledged`, `PartiallyFilled` (and `PendingCancel`) to exactly one
//!   terminal state: `Filled`, `Cancelled`, `Rejected` or `Expired`.
//! - Client order ids are idempotent: a second new-order request with a known id is refused
//!   ([`OmsError::DuplicateClOrdId`]) and changes nothing. Venue order ids are mapped once the
//!   venue reports one.
//! - Venue reports ([`VenueReport`]) are inputs keyed by a venue exec id: a duplicate is
//!   ignored ([`Outcome::Duplicate`]), reports may arrive in any order (a fill implies the ack;
//!   a cancel ack after the full fill is ignored; fills after a cancel ack are still booked),
//!   and an overfill is refused ([`OmsError::Overfill`]). Every refusal is a specific
//!   [`OmsError`] and **a refused input changes no state**.
//! - Positions per (venue, instrument) from the distinct fills: net quantity, bought/sold
//!   quantity, exact `i128` notionals and fees ([`Position`]).
//! - [`Oms::disconnect`] (cancel-on-disconnect) and [`Oms::reconcile`] (after a reconnect,
//!   against the venue's snapshot of open orders and fills) give deterministic actions.
//!
//! Everything is deterministic: ordered maps only, actions sorted by id. Prices, quantities
//! and fees are fixed-point `i64` in the instrument's scales; a fill's notional is
//! `price × qty` as `i128` (no rounding anywhere except the reported averages). This is not
//! the matching hot path (one input per venue message), so it uses ordinary ordered maps.
//!
//! ```
//! use rfq_oms::*;
//! let mut oms = Oms::new();
//! oms.new_order(&NewOrder { cl_ord_id: 1, venue: 2, instrument: 7, side: Side::Bid,
//!     price: 1_000, qty: 10 }).unwrap();
//! assert_eq!(oms.new_order(&NewOrder { cl_ord_id: 1, venue: 2, instrument: 7,
//!     side: Side::Bid, price: 1_000, qty: 10 }), Err(OmsError::DuplicateClOrdId));
//! oms.mark_sent(1).unwrap();
//! let fill = |exec_id, qty| VenueReport { venue: 2, cl_ord_id: 1, venue_order_id: 99, exec_id,
//!     kind: ReportKind::Fill { qty, price: 1_000, fee: 1 } };
//! // a fill before the ack implies the ack
//! assert_eq!(oms.apply(&fill(1, 4)), Ok(Outcome::Applied(OrderState::PartiallyFilled)));
//! assert_eq!(oms.apply(&fill(1, 4)), Ok(Outcome::Duplicate));
//! assert_eq!(oms.apply(&fill(2, 7)), Err(OmsError::Overfill));
//! assert_eq!(oms.apply(&fill(3, 6)), Ok(Outcome::Applied(OrderState::Filled)));
//! assert_eq!(oms.position(2, 7).net, 10);
//! ```
#![deny(missing_docs, unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};

pub use rfq_model::Side;

/// A venue (exchange) id.
pub type VenueId = u16;
/// An instrument id (the venue's instrument as configured by the desk).
pub type InstrumentId = u32;
/// The desk's client order id (`clOrdId`); ≠ 0, unique forever within one [`Oms`].
pub type ClOrdId = u64;
/// The venue's order id (0 in a report = not given).
pub type VenueOrderId = u64;
/// The venue's execution / report id; ≠ 0, unique per venue.
pub type ExecId = u64;

/// The state of one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderState {
    /// Created, not yet sent to the venue.
    New,
    /// Sent, no report from the venue yet.
    PendingNew,
    /// Acknowledged by the venue, nothing filled.
    Acknowledged,
    /// Acknowledged, partly filled.
    PartiallyFilled,
    /// A cancel was requested (or the venue disconnected with the order open); the order may
    /// still fill until the venue confirms.
    PendingCancel,
    /// Terminal: completely filled.
    Filled,
    /// Terminal: cancelled (by request, by the venue, or closed by reconciliation).
    Cancelled,
    /// Terminal: the venue refused the order.
    Rejected,
    /// Terminal: the venue expired the order (time in force).
    Expired,
}

impl OrderState {
    /// Filled, cancelled, rejected or expired.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired)
    }

    /// Live at the venue as far as we know (sent and not terminal).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::PendingNew | Self::Acknowledged | Self::PartiallyFilled | Self::PendingCancel
        )
    }
}

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
    fn working_state(&self) -> OrderState {
        if self.filled > 0 {
            OrderState::PartiallyFilled
        } else if self.acked {
            OrderState::Acknowledged
        } else {
            OrderState::PendingNew
        }
    }
}

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

/// Position of the desk at one (venue, instrument), from the distinct fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Net quantity: bought − sold (`i128`: a day of fills can exceed `i64`).
    pub net: i128,
    /// Σ bought quantity.
    pub bought: i128,
    /// Σ sold quantity.
    pub sold: i128,
    /// Σ price × qty of buys.
    pub buy_notional: i128,
    /// Σ price × qty of sells.
    pub sell_notional: i128,
    /// Σ fees.
    pub fees: i128,
}

impl Position {
    /// Average buy price (truncated); `None` before the first buy.
    pub fn avg_buy_price(&self) -> Option<i64> {
        (self.bought > 0).then(|| (self.buy_notional / self.bought) as i64)
    }

    /// Average sell price (truncated); `None` before the first sell.
    pub fn avg_sell_price(&self) -> Option<i64> {
        (self.sold > 0).then(|| (self.sell_notional / self.sold) as i64)
    }

    fn add(&mut self, side: Side, qty: i64, price: i64, fee: i64) {
        let n = i128::from(price) * i128::from(qty);
        let qty = i128::from(qty);
        match side {
            Side::Bid => {
                self.net += qty;
                self.bought += qty;
                self.buy_notional += n;
            }
            Side::Ask => {
                self.net -= qty;
                self.sold += qty;
                self.sell_notional += n;
            }
        }
        self.fees += i128::from(fee);
    }
}

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

/// The order management system: orders, applied exec ids, venue id map, positions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Oms {
    orders: BTreeMap<ClOrdId, Order>,
    by_venue_id: BTreeMap<(VenueId, VenueOrderId), ClOrdId>,
    seen: BTreeSet<(VenueId, ExecId)>,
    positions: BTreeMap<(VenueId, InstrumentId), Position>,
    disconnected: BTreeSet<VenueId>,
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

    /// Apply a venue report. Checks, in order: `BadExecId`, `UnknownOrder`, `VenueMismatch`,
    /// duplicate exec id (→ `Ok(Duplicate)`), `VenueOrderIdMismatch` / `VenueOrderIdInUse`,
    /// then by kind (see `docs/oms.md`). A refused or ignored report changes nothing.
    pub fn apply(&mut self, r: &VenueReport) -> Result<Outcome, OmsError> {
        use OrderState as S;
        if r.exec_id == 0 {
            return Err(OmsError::BadExecId);
        }
        let o = self.orders.get(&r.cl_ord_id).ok_or(OmsError::UnknownOrder)?;
        if o.req.venue != r.venue {
            return Err(OmsError::VenueMismatch);
        }
        if self.seen.contains(&(r.venue, r.exec_id)) {
            return Ok(Outcome::Duplicate);
        }
        if r.venue_order_id != 0 {
            match o.venue_order_id {
                Some(v) if v != r.venue_order_id => return Err(OmsError::VenueOrderIdMismatch),
                Some(_) => {}
                None => match self.by_venue_id.get(&(r.venue, r.venue_order_id)) {
                    Some(&other) if other != r.cl_ord_id => {
                        return Err(OmsError::VenueOrderIdInUse)
                    }
                    _ => {}
                },
            }
        }
        let st = o.state;
        let mut fill = None;
        let mut reason = o.venue_reason;
        let next = match r.kind {
            ReportKind::Ack => match st {
                S::New | S::PendingNew => Some(S::Acknowledged),
                // a cancel requested before the ack: record the ack, stay pending cancel
                S::PendingCancel if !o.acked => Some(S::PendingCancel),
                _ => None,
            },
            ReportKind::Reject { reason: code } => {
                if st.is_terminal() {
                    None
                } else if o.acked || o.filled > 0 {
                    return Err(OmsError::RejectAfterAck);
                } else {
                    reason = code;
                    Some(S::Rejected)
                }
            }
            ReportKind::PartialFill { qty, price, fee } | ReportKind::Fill { qty, price, fee } => {
                if qty <= 0 {
                    return Err(OmsError::BadQty);
                }
                if price <= 0 {
                    return Err(OmsError::BadPrice);
                }
                if st == S::Rejected {
                    return Err(OmsError::FillOnRejected);
                }
                if qty > o.req.qty - o.filled {
                    return Err(OmsError::Overfill);
                }
                fill = Some((qty, price, fee));
                Some(if o.filled + qty == o.req.qty {
                    S::Filled
                } else {
                    match st {
                        S::New | S::PendingNew | S::Acknowledged => S::PartiallyFilled,
                        // PartiallyFilled, PendingCancel, Cancelled, Expired stay
                        s => s,
                    }
                })
            }
            ReportKind::CancelAck => st.is_open().then_some(S::Cancelled),
            ReportKind::Expired => st.is_open().then_some(S::Expired),
            ReportKind::CancelReject { reason: code } => {
                reason = code;
                (st == S::PendingCancel).then(|| o.working_state())
            }
        };
        let Some(next) = next else {
            return Ok(Outcome::Ignored(st));
        };
        // commit
        let o = self.orders.get_mut(&r.cl_ord_id).expect("checked");
        self.seen.insert((r.venue, r.exec_id));
        if r.venue_order_id != 0 && o.venue_order_id.is_none() {
            o.venue_order_id = Some(r.venue_order_id);
            self.by_venue_id.insert((r.venue, r.venue_order_id), r.cl_ord_id);
        }
        if !matches!(r.kind, ReportKind::Reject { .. }) {
            o.acked = true;
        }
        o.venue_reason = reason;
        if let Some((qty, price, fee)) = fill {
            o.filled += qty;
            o.notional += i128::from(price) * i128::from(qty);
            o.fees += i128::from(fee);
            self.positions
                .entry((r.venue, o.req.instrument))
                .or_default()
                .add(o.req.side, qty, price, fee);
        }
        o.state = next;
        Ok(Outcome::Applied(next))
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
        let mut fills = snap.fills.clone();
        fills.sort_by_key(|f| (f.exec_id, f.cl_ord_id));
        for f in &fills {
            let r = VenueReport {
                venue,
                cl_ord_id: f.cl_ord_id,
                venue_order_id: f.venue_order_id,
                exec_id: f.exec_id,
                kind: ReportKind::PartialFill { qty: f.qty, price: f.price, fee: f.fee },
            };
            match self.apply(&r) {
                Ok(Outcome::Applied(state)) => actions.push(ReconAction::FillApplied {
                    cl_ord_id: f.cl_ord_id,
                    exec_id: f.exec_id,
                    state,
                }),
                Ok(_) => {}
                Err(OmsError::UnknownOrder | OmsError::VenueMismatch) => actions
                    .push(ReconAction::UnknownFill { cl_ord_id: f.cl_ord_id, exec_id: f.exec_id }),
                Err(reason) => actions.push(ReconAction::FillRefused {
                    cl_ord_id: f.cl_ord_id,
                    exec_id: f.exec_id,
                    reason,
                }),
            }
        }
        let mut open = snap.open.clone();
        open.sort_by_key(|v| (v.cl_ord_id, v.venue_order_id));
        open.dedup_by_key(|v| v.cl_ord_id);
        for v in &open {
            let Some(o) = self.orders.get(&v.cl_ord_id).filter(|o| o.req.venue == venue) else {
                actions.push(ReconAction::UnknownVenueOrder {
                    cl_ord_id: v.cl_ord_id,
                    venue_order_id: v.venue_order_id,
                });
                continue;
            };
            let (state, acked) = (o.state, o.acked);
            if !acked && !state.is_terminal() {
                // an implied ack; the snapshot carries no exec id for it
                let o = self.orders.get_mut(&v.cl_ord_id).expect("checked");
                o.acked = true;
                if matches!(state, OrderState::New | OrderState::PendingNew) {
                    o.state = OrderState::Acknowledged;
                }
                if o.venue_order_id.is_none()
                    && !self.by_venue_id.contains_key(&(venue, v.venue_order_id))
                {
                    o.venue_order_id = Some(v.venue_order_id);
                    self.by_venue_id.insert((venue, v.venue_order_id), v.cl_ord_id);
                }
                actions.push(ReconAction::Acknowledged {
                    cl_ord_id: v.cl_ord_id,
                    venue_order_id: v.venue_order_id,
                });
            }
            if state == OrderState::PendingCancel || state.is_terminal() {
                actions.push(ReconAction::CancelAtVenue {
                    cl_ord_id: v.cl_ord_id,
                    venue_order_id: v.venue_order_id,
                });
            }
            let ours = self.orders[&v.cl_ord_id].filled;
            if v.cum_qty > ours {
                actions.push(ReconAction::FillGap {
                    cl_ord_id: v.cl_ord_id,
                    venue_cum: v.cum_qty,
                    ours,
                });
            }
        }
        for (id, o) in self.orders.iter_mut().filter(|(_, o)| o.req.venue == venue) {
            o.disconnected = false;
            if o.state.is_open() && open.binary_search_by_key(id, |v| v.cl_ord_id).is_err() {
                o.state = OrderState::Cancelled;
                actions.push(ReconAction::ClosedNotAtVenue { cl_ord_id: *id, filled: o.filled });
            }
        }
        self.disconnected.remove(&venue);
        actions
    }
}

// ---- snapshot encoding ---------------------------------------------------------------------

const STATES: [OrderState; 9] = [
    OrderState::New,
    OrderState::PendingNew,
    OrderState::Acknowledged,
    OrderState::PartiallyFilled,
    OrderState::PendingCancel,
    OrderState::Filled,
    OrderState::Cancelled,
    OrderState::Rejected,
    OrderState::Expired,
];

impl OrderState {
    /// A stable code (0..=8) for records and snapshots.
    pub fn code(self) -> u8 {
        STATES.iter().position(|s| *s == self).unwrap_or(0) as u8
    }

    /// The state with this [`OrderState::code`].
    pub fn from_code(c: u8) -> Option<OrderState> {
        STATES.get(usize::from(c)).copied()
    }
}

impl OmsError {
    /// A stable index (0..=15) for records (`rfq_reject::OMS_BASE` + index).
    pub fn index(self) -> u8 {
        self as u8
    }
}

struct Dec<'a>(&'a [u8]);

impl Dec<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.0.len() < N {
            return Err("OMS snapshot truncated".into());
        }
        let (a, b) = self.0.split_at(N);
        self.0 = b;
        Ok(a.try_into().expect("length checked"))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn i128(&mut self) -> Result<i128, String> {
        Ok(i128::from_le_bytes(self.take()?))
    }
    fn len(&mut self) -> Result<usize, String> {
        let n = self.u64()?;
        usize::try_from(n).ok().filter(|n| *n <= self.0.len()).ok_or_else(|| format!("OMS snapshot: bad count {n}"))
    }
}

impl Oms {
    /// Append the whole OMS state (little-endian, fixed field order) for a core snapshot.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.orders.len() as u64).to_le_bytes());
        for o in self.orders.values() {
            let r = &o.req;
            out.extend_from_slice(&r.cl_ord_id.to_le_bytes());
            out.extend_from_slice(&r.venue.to_le_bytes());
            out.extend_from_slice(&r.instrument.to_le_bytes());
            out.push(u8::from(r.side == Side::Ask));
            out.extend_from_slice(&r.price.to_le_bytes());
            out.extend_from_slice(&r.qty.to_le_bytes());
            out.push(o.state.code());
            out.extend_from_slice(&o.filled.to_le_bytes());
            out.extend_from_slice(&o.notional.to_le_bytes());
            out.extend_from_slice(&o.fees.to_le_bytes());
            out.push(u8::from(o.venue_order_id.is_some()));
            out.extend_from_slice(&o.venue_order_id.unwrap_or(0).to_le_bytes());
            out.push(u8::from(o.acked) | u8::from(o.disconnected) << 1);
            out.extend_from_slice(&o.venue_reason.to_le_bytes());
        }
        out.extend_from_slice(&(self.by_venue_id.len() as u64).to_le_bytes());
        for ((v, id), c) in &self.by_venue_id {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out.extend_from_slice(&(self.seen.len() as u64).to_le_bytes());
        for (v, e) in &self.seen {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&e.to_le_bytes());
        }
        out.extend_from_slice(&(self.positions.len() as u64).to_le_bytes());
        for ((v, i), p) in &self.positions {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&i.to_le_bytes());
            for x in [p.net, p.bought, p.sold, p.buy_notional, p.sell_notional, p.fees] {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.disconnected.len() as u64).to_le_bytes());
        for v in &self.disconnected {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Decode what [`Oms::encode`] wrote; returns the OMS and the bytes consumed.
    pub fn decode(bytes: &[u8]) -> Result<(Oms, usize), String> {
        let mut d = Dec(bytes);
        let mut oms = Oms::new();
        for _ in 0..d.len()? {
            let cl_ord_id = d.u64()?;
            let venue = d.u16()?;
            let instrument = d.u32()?;
            let side = if d.u8()? == 0 { Side::Bid } else { Side::Ask };
            let (price, qty) = (d.i64()?, d.i64()?);
            let state = OrderState::from_code(d.u8()?).ok_or("OMS snapshot: bad order state")?;
            let (filled, notional, fees) = (d.i64()?, d.i128()?, d.i128()?);
            let has_vid = d.u8()? != 0;
            let vid = d.u64()?;
            let fl = d.u8()?;
            let venue_reason = d.u16()?;
            let req = NewOrder { cl_ord_id, venue, instrument, side, price, qty };
            let o = Order {
                req,
                state,
                filled,
                notional,
                fees,
                venue_order_id: has_vid.then_some(vid),
                acked: fl & 1 != 0,
                disconnected: fl & 2 != 0,
                venue_reason,
            };
            oms.orders.insert(cl_ord_id, o);
        }
        for _ in 0..d.len()? {
            let (v, id, c) = (d.u16()?, d.u64()?, d.u64()?);
            oms.by_venue_id.insert((v, id), c);
        }
        for _ in 0..d.len()? {
            let (v, e) = (d.u16()?, d.u64()?);
            oms.seen.insert((v, e));
        }
        for _ in 0..d.len()? {
            let (v, i) = (d.u16()?, d.u32()?);
            let p = Position {
                net: d.i128()?,
                bought: d.i128()?,
                sold: d.i128()?,
                buy_notional: d.i128()?,
                sell_notional: d.i128()?,
                fees: d.i128()?,
            };
            oms.positions.insert((v, i), p);
        }
        for _ in 0..d.len()? {
            oms.disconnected.insert(d.u16()?);
        }
        Ok((oms, bytes.len() - d.0.len()))
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let mut oms = Oms::new();
        for id in 1..=3_u64 {
            oms.new_order(&NewOrder { cl_ord_id: id, venue: 2, instrument: 7, side: if id == 2 { Side::Ask } else { Side::Bid }, price: 1_000 + id as i64, qty: 10 }).unwrap();
            oms.mark_sent(id).unwrap();
        }
        oms.apply(&VenueReport { venue: 2, cl_ord_id: 1, venue_order_id: 99, exec_id: 5, kind: ReportKind::PartialFill { qty: 4, price: 1_001, fee: 3 } }).unwrap();
        oms.apply(&VenueReport { venue: 2, cl_ord_id: 2, venue_order_id: 0, exec_id: 6, kind: ReportKind::Reject { reason: 7 } }).unwrap();
        oms.disconnect(2);
        let mut b = Vec::new();
        oms.encode(&mut b);
        b.extend_from_slice(b"tail");
        let (back, used) = Oms::decode(&b).unwrap();
        assert_eq!(back, oms);
        assert_eq!(&b[used..], b"tail");
        assert!(Oms::decode(&b[..used - 1]).is_err());
        for s in STATES {
            assert_eq!(OrderState::from_code(s.code()), Some(s));
        }
    }
}
