//! The hedging policy on the core thread: availability, client fills, timers, evaluation,
//! routing hedge orders to venues and booking hedge fills.

use super::*;
use super::router::{hedge_limit, RoutePlan, Router};

impl Hedging {
    /// Hedging is possible for composite `ci`, or not needed (no policy / mode off).
    /// `usable(ci, member)`: member `member` of composite `ci` is usable now (the market's
    /// answer, passed down by the engine).
    pub fn hedge_ok(&self, ci: usize, usable: impl Fn(usize, usize) -> bool) -> bool {
        let Some(hi) = self.by_ci.get(ci).copied().flatten() else { return true };
        let s = &self.states[hi];
        s.spec.mode == HedgeMode::Off || s.venues.iter().any(|v| v.up && usable(ci, v.member))
    }

    /// Publish a `HEDGE_STATUS` when the availability of `hi` changed.
    pub(super) fn hedge_status(&mut self, cx: &impl HedgeInputs, hi: usize, trigger: &Record, out: &mut impl Sink) {
        let ci = self.states[hi].ci;
        let ok = self.hedge_ok(ci, |ci, m| cx.usable(ci, m));
        let s = &mut self.states[hi];
        if ok != s.available {
            s.available = ok;
            out.emit(&Record {
                kind: kind::HEDGE_STATUS,
                instrument: s.spec.composite,
                side: u8::from(ok),
                flags: flags::END,
                source: 0,
                seq: 0,
                ts_event: 0,
                ts_recv: cx.now(),
                price: s.pending,
                qty: s.client_flow + s.hedged,
                aux: if ok { 0 } else { rfq_reject::HEDGE_UNAVAILABLE },
                ts_send: trigger.ts_send,
            });
        }
    }

    /// Publish availability changes of every hedged composite (after market data or time moved).
    pub fn hedge_status_all(&mut self, cx: &impl HedgeInputs, trigger: &Record, out: &mut impl Sink) {
        for hi in 0..self.states.len() {
            self.hedge_status(cx, hi, trigger, out);
        }
    }

    /// A client fill moved the desk position of composite `ci` by `dq` at `price`: hedge it.
    pub fn on_client_fill(&mut self, cx: &impl HedgeInputs, ci: usize, dq: i64, price: i64, trigger: &Record, out: &mut impl Sink) {
        let Some(hi) = self.by_ci.get(ci).copied().flatten() else { return };
        let s = &mut self.states[hi];
        s.client_flow += dq;
        s.ref_qty += dq.abs();
        s.ref_notional += i128::from(price) * i128::from(dq.abs());
        self.hedge_evaluate(cx, hi, trigger, out);
    }

    /// Retries that fell due (called on heartbeats and before RFQ-family records).
    pub fn hedge_timers(&mut self, cx: &impl HedgeInputs, trigger: &Record, out: &mut impl Sink) {
        for hi in 0..self.states.len() {
            let at = self.states[hi].retry_at;
            if at != 0 && cx.now() >= at {
                self.states[hi].retry_at = 0;
                self.hedge_evaluate(cx, hi, trigger, out);
            }
        }
    }

    /// Apply the policy: route what still needs hedging.
    pub(super) fn hedge_evaluate(&mut self, cx: &impl HedgeInputs, hi: usize, trigger: &Record, out: &mut impl Sink) {
        let s = &self.states[hi];
        if s.retry_at != 0 && cx.now() < s.retry_at {
            return;
        }
        let target = match s.spec.mode {
            HedgeMode::Off => return,
            HedgeMode::Full => -s.client_flow,
            HedgeMode::Partial => -((i128::from(s.client_flow) * i128::from(s.spec.ratio_pct) / 100) as i64),
            HedgeMode::Threshold => {
                if (s.client_flow + s.hedged + s.pending).abs() < s.spec.threshold {
                    return;
                }
                -s.client_flow
            }
        };
        let need = target - s.hedged - s.pending;
        if need != 0 {
            self.route(cx, hi, need, trigger, out);
        }
        self.hedge_status(cx, hi, trigger, out);
    }

    /// The smart order router: split `need` (composite qty, + = buy) across the venues that are
    /// up and usable, walking their books best effective price first (taker fee included), and
    /// send one IOC limit order per venue at its worst level price plus the slippage tolerance.
    pub(super) fn route(&mut self, cx: &impl HedgeInputs, hi: usize, need: i64, trigger: &Record, out: &mut impl Sink) {
        let plan = Router::open(self, cx, hi, need).split(need);
        let buy = need > 0;
        let mut sent = 0;
        if plan.int_alloc > 0 {
            self.cross_internal(cx, hi, buy, plan.int_alloc, plan.int_worst, trigger, out);
            sent += 1;
        }
        for vi in 0..plan.n {
            if plan.alloc[vi] != 0 && self.send_hedge_order(cx, hi, vi, buy, &plan, trigger, out) {
                sent += 1;
            }
        }
        self.route_rest(cx, hi, need, &plan, sent, trigger, out);
    }

    /// Sends venue `vi` its share of the plan as an IOC limit order at its worst level price
    /// plus the slippage tolerance (rounded to the tick, against the desk); refused
    /// (`HEDGE_REJECT`) outside the composite's collar or by the OMS. Returns whether it was sent.
    pub(super) fn send_hedge_order(&mut self, cx: &impl HedgeInputs, hi: usize, vi: usize, buy: bool, plan: &RoutePlan, trigger: &Record, out: &mut impl Sink) -> bool {
        let s = &self.states[hi];
        let v = &s.venues[vi];
        let (tick, conv, venue, inst_id) = (v.tick, v.conv, v.spec.venue, v.spec.instrument);
        let qty = plan.alloc[vi];
        let limit = hedge_limit(plan.worst[vi], tick, i128::from(s.spec.max_slippage_cbps), buy);
        let (climit, _) = conv.convert(limit, 0);
        let in_collar = match (plan.mid, plan.collar) {
            (Some(m), Some(cb)) => (i128::from(climit) - i128::from(m)).abs() * PPM <= i128::from(cb) * i128::from(m),
            _ => false,
        };
        if !in_collar {
            self.hedge_refuse(cx, hi, inst_id, venue, rfq_reject::HEDGE_COLLAR, qty, limit, trigger, out);
            return false;
        }
        self.last_cl_ord_id += 1;
        let id = self.last_cl_ord_id;
        let req = NewOrder { cl_ord_id: id, venue, instrument: u32::from(inst_id), side: if buy { Side::Bid } else { Side::Ask }, price: limit, qty };
        let ok = self.oms.new_order(&req).and_then(|()| self.oms.mark_sent(id));
        if let Err(e) = ok {
            self.hedge_refuse(cx, hi, inst_id, venue, rfq_reject::OMS_BASE + i64::from(e.index()), qty, limit, trigger, out);
            return false;
        }
        let s = &mut self.states[hi];
        let signed = if buy { qty } else { -qty };
        s.venues[vi].working += signed;
        s.pending += signed * s.venues[vi].qty_mult;
        s.orders += 1;
        out.emit(&Record {
            kind: kind::HEDGE_ORDER,
            instrument: inst_id,
            side: u8::from(!buy),
            flags: flags::END,
            source: venue,
            seq: id,
            ts_event: 0,
            ts_recv: cx.now(),
            price: limit,
            qty,
            aux: i64::from(s.spec.composite),
            ts_send: trigger.ts_send,
        });
        true
    }

    /// After a routing that sent `sent` orders: what it could not route (caps, thin books,
    /// lots) is routed again after the retry delay; one that sent nothing is refused
    /// (`HEDGE_REJECT` with the reason) and retried after the delay.
    pub(super) fn route_rest(&mut self, cx: &impl HedgeInputs, hi: usize, need: i64, plan: &RoutePlan, sent: usize, trigger: &Record, out: &mut impl Sink) {
        let routed: i64 = plan.int_alloc + (0..plan.n).map(|vi| plan.alloc[vi] * self.states[hi].venues[vi].qty_mult).sum::<i64>();
        if sent > 0 && routed < need.abs() {
            // the rest (caps, thin books, lots) is routed again after the retry delay
            let retry = self.states[hi].spec.retry_ns.max(1);
            self.states[hi].retry_at = cx.now().saturating_add(retry);
        }
        if sent == 0 {
            let reason = if !plan.any_up {
                rfq_reject::HEDGE_UNAVAILABLE
            } else if plan.capped {
                rfq_reject::HEDGE_VENUE_LIMIT
            } else {
                rfq_reject::HEDGE_NO_LIQUIDITY
            };
            let composite = self.states[hi].spec.composite;
            self.hedge_refuse(cx, hi, composite, 0, reason, need.abs(), 0, trigger, out);
            let retry = self.states[hi].spec.retry_ns.max(1);
            self.states[hi].retry_at = cx.now().saturating_add(retry);
        }
    }

    /// A hedge fill of `cq` at `cp` (composite scales) and `fee` (composite notional scale):
    /// hedged quantity, desk position, fees, slippage against the quoted prices of the unhedged
    /// client flow (average first). Returns this fill's slippage in cbps (+ = cost).
    pub(super) fn book_hedge_fill(&mut self, hi: usize, buy: bool, cq: i64, cp: i64, fee: i128) -> i64 {
        let sign = if buy { 1 } else { -1 };
        let s = &mut self.states[hi];
        s.hedged += sign * cq;
        s.fills += 1;
        s.fees += fee;
        let mut slip_cbps = 0;
        let matched = cq.min(s.ref_qty);
        if matched > 0 {
            let ref_part = s.ref_notional * i128::from(matched) / i128::from(s.ref_qty);
            let paid = i128::from(cp) * i128::from(matched);
            let cost = if buy { paid - ref_part } else { ref_part - paid };
            s.ref_qty -= matched;
            s.ref_notional -= ref_part;
            s.slippage += cost;
            s.matched_notional += ref_part;
            slip_cbps = (cost * PPM / ref_part.max(1)) as i64;
        }
        // the desk position moves by the engine, as soon as this call returns (reserved: at
        // most one fill per venue and internal fill of a routing)
        self.desk_moves.push(DeskMove { ci: s.ci, qty: sign * cq, price: cp, fee });
        slip_cbps
    }
}
