//! Venue inputs (`VENUE_REPORT`, `VENUE_STATUS`) through the OMS, refusals, and the query
//! views of hedging.

use super::*;

impl Hedging {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hedge_refuse(&mut self, cx: &impl HedgeInputs, hi: usize, instrument: u16, venue: u16, reason: i64, qty: i64, price: i64, trigger: &Record, out: &mut impl Sink) {
        self.states[hi].refused += 1;
        out.emit(&Record {
            kind: kind::HEDGE_REJECT,
            instrument,
            side: hedge_reject::ORDER,
            flags: flags::END,
            source: venue,
            seq: 0,
            ts_event: 0,
            ts_recv: cx.now(),
            price,
            qty,
            aux: reason,
            ts_send: trigger.ts_send,
        });
    }

    pub(super) fn input_refuse(&mut self, cx: &impl HedgeInputs, r: &Record, what: u8, reason: i64, out: &mut impl Sink) {
        self.refused_inputs += 1;
        out.emit(&echo(r, kind::HEDGE_REJECT, what, reason, cx.now()));
    }

    /// `VENUE_REPORT`: an execution report of a hedge order.
    pub fn on_venue_report(&mut self, cx: &impl HedgeInputs, r: &Record, out: &mut impl Sink) {
        if r.flags & flags::END == 0 || r.seq == 0 {
            return self.input_refuse(cx, r, hedge_reject::REPORT, rfq_reject::MALFORMED, out);
        }
        let Some((hi, vi)) = self.order_venue(r.source, r.instrument) else {
            return self.input_refuse(cx, r, hedge_reject::REPORT, rfq_reject::UNKNOWN_VENUE, out);
        };
        let reason = u16::try_from(r.aux).unwrap_or(u16::MAX);
        let k = match r.side {
            venue_report::ACK => ReportKind::Ack,
            venue_report::REJECT => ReportKind::Reject { reason },
            venue_report::PARTIAL_FILL => ReportKind::PartialFill { qty: r.qty, price: r.price, fee: r.aux },
            venue_report::FILL => ReportKind::Fill { qty: r.qty, price: r.price, fee: r.aux },
            venue_report::CANCEL_ACK => ReportKind::CancelAck,
            venue_report::CANCEL_REJECT => ReportKind::CancelReject { reason },
            venue_report::EXPIRED => ReportKind::Expired,
            _ => return self.input_refuse(cx, r, hedge_reject::REPORT, rfq_reject::BAD_REPORT, out),
        };
        if matches!(k, ReportKind::PartialFill { .. } | ReportKind::Fill { .. }) && (r.qty <= 0 || r.price <= 0) {
            return self.input_refuse(cx, r, hedge_reject::REPORT, rfq_reject::BAD_REPORT, out);
        }
        let before = self.oms.order(r.seq).map(|o| (o.filled, o.leaves(), o.req.instrument));
        if before.is_some_and(|b| b.2 != u32::from(r.instrument)) {
            return self.input_refuse(cx, r, hedge_reject::REPORT, rfq_reject::UNKNOWN_VENUE, out);
        }
        let rep = VenueReport { venue: r.source, cl_ord_id: r.seq, venue_order_id: 0, exec_id: r.ts_event as u64, kind: k };
        let state = match self.oms.apply(&rep) {
            Err(e) => return self.input_refuse(cx, r, hedge_reject::REPORT, rfq_reject::OMS_BASE + i64::from(e.index()), out),
            Ok(Outcome::Duplicate | Outcome::Ignored(_)) => {
                self.duplicates += 1;
                return;
            }
            Ok(Outcome::Applied(s)) => s,
        };
        self.reports += 1;
        let (f0, l0, _) = before.expect("applied to a known order");
        let o = self.oms.order(r.seq).expect("applied to a known order");
        let (f1, l1, buy, qty) = (o.filled, o.leaves(), o.req.side == Side::Bid, o.req.qty);
        let sign = if buy { 1 } else { -1 };
        let s = &mut self.states[hi];
        let v = &mut s.venues[vi];
        let (qm, conv) = (v.qty_mult, v.conv);
        v.working -= sign * (l0 - l1);
        s.pending -= sign * (l0 - l1) * qm;
        let mut slip_cbps = 0;
        let mut fill_px = 0;
        let filled = f1 - f0;
        if filled > 0 {
            v.position += sign * filled;
            let (cp, cq) = conv.convert(r.price, filled);
            fill_px = r.price;
            let fee = i128::from(r.aux) * i128::from(conv.px_mult) * i128::from(qm);
            slip_cbps = self.book_hedge_fill(hi, buy, cq, cp, fee);
        }
        out.emit(&Record {
            kind: kind::HEDGE_REPORT,
            instrument: r.instrument,
            side: state.code(),
            flags: flags::END,
            source: r.source,
            seq: r.seq,
            ts_event: r.ts_event,
            ts_recv: cx.now(),
            price: fill_px,
            qty: filled,
            aux: slip_cbps,
            ts_send: r.ts_send,
        });
        if state.is_terminal() && l0 > 0 && f1 < qty {
            // ended with quantity unfilled: route the rest again after the retry delay
            let s = &mut self.states[hi];
            s.retry_at = cx.now().saturating_add(s.spec.retry_ns);
            if s.spec.retry_ns == 0 {
                s.retry_at = 0;
                self.hedge_evaluate(cx, hi, r, out);
            }
        }
        self.hedge_status(cx, hi, r, out);
    }

    /// `VENUE_STATUS`: a venue's link went up (`side` 1) or down (`side` 0).
    pub fn on_venue_status(&mut self, cx: &impl HedgeInputs, r: &Record, out: &mut impl Sink) {
        if r.flags & flags::END == 0 || r.side > 1 {
            return self.input_refuse(cx, r, hedge_reject::STATUS, rfq_reject::MALFORMED, out);
        }
        if self.venue(r.source).next().is_none() {
            return self.input_refuse(cx, r, hedge_reject::STATUS, rfq_reject::UNKNOWN_VENUE, out);
        }
        let up = r.side == 1;
        if up {
            // the venue link reported every in-flight order's outcome before saying up: what is
            // still open here is unknown to the venue (IOC orders) and is closed as cancelled
            if self.oms.is_disconnected(r.source) || self.oms.orders().any(|o| o.req.venue == r.source && o.state.is_open()) {
                let mut recon = std::mem::take(&mut self.recon);
                recon.clear();
                self.oms.reconcile_into(r.source, &rfq_oms::VenueSnapshot::default(), &mut recon);
                self.recon = recon;
            }
        } else {
            self.oms.disconnect_each(r.source, |_| {});
        }
        // every (composite, venue) pair of this venue id, in the order of `Hedging::venue`,
        // without collecting them
        let n = self.states.len();
        for hi in 0..n {
            for vi in 0..self.states[hi].venues.len() {
                if self.states[hi].venues[vi].spec.venue == r.source {
                    self.states[hi].venues[vi].up = up;
                    if up {
                        self.resync_working(hi);
                        // a venue came back: route at once, whatever retry was pending
                        self.states[hi].retry_at = 0;
                    }
                }
            }
        }
        for hi in 0..n {
            for vi in 0..self.states[hi].venues.len() {
                if self.states[hi].venues[vi].spec.venue == r.source {
                    if up {
                        self.hedge_evaluate(cx, hi, r, out);
                    }
                    self.hedge_status(cx, hi, r, out);
                }
            }
        }
    }

    /// Recompute working / pending quantities of `hi` from the OMS (after reconciliation
    /// closed orders without reports).
    pub(super) fn resync_working(&mut self, hi: usize) {
        let s = &mut self.states[hi];
        let mut pending = 0;
        for v in &mut s.venues {
            v.working = self
                .oms
                .orders()
                .filter(|o| o.req.venue == v.spec.venue && o.req.instrument == u32::from(v.spec.instrument))
                .map(|o| if o.req.side == Side::Bid { o.leaves() } else { -o.leaves() })
                .sum();
            pending += v.working * v.qty_mult;
        }
        s.pending = pending;
    }

    /// Hedging views of every composite with a policy.
    pub fn hedge_views(&self) -> Vec<HedgeView> {
        (0..self.states.len()).map(|hi| self.view(hi)).collect()
    }

    /// Every hedge order the OMS holds, by client order id.
    pub fn hedge_orders(&self) -> Vec<HedgeOrderView> {
        self
            .oms
            .orders()
            .map(|o| HedgeOrderView {
                cl_ord_id: o.req.cl_ord_id,
                venue: o.req.venue,
                instrument: o.req.instrument as u16,
                side: u8::from(o.req.side == Side::Ask),
                price: o.req.price,
                qty: o.req.qty,
                filled: o.filled,
                notional: o.notional,
                state: o.state.code(),
            })
            .collect()
    }
}
