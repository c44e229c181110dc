//! [`Oms::apply`]: a venue report, checked in full first and then committed, so a refused,
//! duplicate or ignored report changes nothing. (Making room for its exec id may prune old
//! terminal orders first; that is housekeeping, not the report's doing.)

use crate::{Oms, OmsError, Order, OrderState as S, Outcome, Position, ReportKind, VenueReport};

/// What an accepted report does to its order: the next state, a fill to book, the venue
/// reason code to keep.
struct Change {
    next: S,
    fill: Option<(i64, i64, i64)>,
    reason: u16,
}

impl Oms {
    /// Apply a venue report. Checks, in order: `BadExecId`, `UnknownOrder`, `VenueMismatch`,
    /// duplicate exec id (→ `Ok(Duplicate)`), `VenueOrderIdMismatch` / `VenueOrderIdInUse`,
    /// then by kind (see `docs/oms.md`). A refused or ignored report changes nothing.
    pub fn apply(&mut self, r: &VenueReport) -> Result<Outcome, OmsError> {
        if r.exec_id == 0 {
            return Err(OmsError::BadExecId);
        }
        let o = self.orders.get(&r.cl_ord_id).ok_or(OmsError::UnknownOrder)?;
        if o.req.venue != r.venue {
            return Err(OmsError::VenueMismatch);
        }
        if self.seen.contains_key(&(r.venue, r.exec_id)) {
            return Ok(Outcome::Duplicate);
        }
        self.check_venue_order_id(o, r)?;
        let Some(c) = change(o, r.kind)? else { return Ok(Outcome::Ignored(o.state)) };
        let new_position = c.fill.is_some() && !self.positions.contains_key(&(r.venue, o.req.instrument));
        if new_position && self.positions.is_full() {
            return Err(OmsError::Full);
        }
        if self.seen.is_full() && !self.prune(r.cl_ord_id) {
            return Err(OmsError::Full);
        }
        Ok(Outcome::Applied(self.commit(r, c)))
    }

    /// A report's venue order id must match the mapped one, or be free.
    fn check_venue_order_id(&self, o: &Order, r: &VenueReport) -> Result<(), OmsError> {
        if r.venue_order_id == 0 {
            return Ok(());
        }
        match o.venue_order_id {
            Some(v) if v != r.venue_order_id => Err(OmsError::VenueOrderIdMismatch),
            Some(_) => Ok(()),
            None => match self.by_venue_id.get(&(r.venue, r.venue_order_id)) {
                Some(&other) if other != r.cl_ord_id => Err(OmsError::VenueOrderIdInUse),
                _ => Ok(()),
            },
        }
    }

    /// Commit a checked change: record the exec id, map the venue order id, book the fill.
    fn commit(&mut self, r: &VenueReport, c: Change) -> S {
        let o = self.orders.get_mut(&r.cl_ord_id).expect("checked");
        self.seen.insert((r.venue, r.exec_id), r.cl_ord_id);
        if r.venue_order_id != 0 && o.venue_order_id.is_none() {
            o.venue_order_id = Some(r.venue_order_id);
            self.by_venue_id.insert((r.venue, r.venue_order_id), r.cl_ord_id);
        }
        if !matches!(r.kind, ReportKind::Reject { .. }) {
            o.acked = true;
        }
        o.venue_reason = c.reason;
        if let Some((qty, price, fee)) = c.fill {
            o.filled += qty;
            o.notional += i128::from(price) * i128::from(qty);
            o.fees += i128::from(fee);
            let key = (r.venue, o.req.instrument);
            if !self.positions.contains_key(&key) {
                self.positions.insert(key, Position::default());
            }
            self.positions.get_mut(&key).expect("inserted").add(o.req.side, qty, price, fee);
        }
        o.state = c.next;
        c.next
    }
}

/// The change a report of `kind` makes to `o`: `Ok(None)` = stale, ignored.
fn change(o: &Order, kind: ReportKind) -> Result<Option<Change>, OmsError> {
    let st = o.state;
    let keep = |next: Option<S>| Ok(next.map(|next| Change { next, fill: None, reason: o.venue_reason }));
    match kind {
        ReportKind::Ack => keep(match st {
            S::New | S::PendingNew => Some(S::Acknowledged),
            // a cancel requested before the ack: record the ack, stay pending cancel
            S::PendingCancel if !o.acked => Some(S::PendingCancel),
            _ => None,
        }),
        ReportKind::Reject { reason } => {
            if st.is_terminal() {
                Ok(None)
            } else if o.acked || o.filled > 0 {
                Err(OmsError::RejectAfterAck)
            } else {
                Ok(Some(Change { next: S::Rejected, fill: None, reason }))
            }
        }
        ReportKind::PartialFill { qty, price, fee } | ReportKind::Fill { qty, price, fee } => fill(o, qty, price, fee).map(Some),
        ReportKind::CancelAck => keep(st.is_open().then_some(S::Cancelled)),
        ReportKind::Expired => keep(st.is_open().then_some(S::Expired)),
        ReportKind::CancelReject { reason } => {
            Ok((st == S::PendingCancel).then(|| Change { next: o.working_state(), fill: None, reason }))
        }
    }
}

/// A fill: the state follows the cumulative quantity, not the venue's label.
fn fill(o: &Order, qty: i64, price: i64, fee: i64) -> Result<Change, OmsError> {
    if qty <= 0 {
        return Err(OmsError::BadQty);
    }
    if price <= 0 {
        return Err(OmsError::BadPrice);
    }
    if o.state == S::Rejected {
        return Err(OmsError::FillOnRejected);
    }
    if qty > o.req.qty - o.filled {
        return Err(OmsError::Overfill);
    }
    let next = if o.filled + qty == o.req.qty {
        S::Filled
    } else {
        match o.state {
            S::New | S::PendingNew | S::Acknowledged => S::PartiallyFilled,
            // PartiallyFilled, PendingCancel, Cancelled, Expired stay
            s => s,
        }
    };
    Ok(Change { next, fill: Some((qty, price, fee)), reason: o.venue_reason })
}
