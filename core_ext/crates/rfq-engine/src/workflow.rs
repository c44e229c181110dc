//! The RFQ workflow on the core thread (docs/rfq-protocol.md): RFQ, ACCEPT, CANCEL and CONTROL
//! records, expiries and approval timeouts, and the query API.

use crate::core::{best_of, echo, is_crossed, CompositeState, Core, Sink};
use crate::pricing::{ask_price, bid_price, v2_spreads, PPM};
use crate::rfq::{
    ClientView, InstrumentView, PendingSlot, PendingView, PositionView, QuoteSlot, QuoteState, QuoteView, RfqState, RfqStats,
    KILL_SCAN_PER_RECORD,
};
use crate::risk::MAX_EXEC_COUNT;
use rfq_book::composite::{sweep_ladder, Conversion, MAX_MEMBERS};
use rfq_book::L2Book;
use rfq_model::{RfqConfig, Side};
use rfq_ring::record::{control, flags, kind, rfq_reject, withdraw};
use rfq_ring::Record;

/// A validated RFQ (or a pending one being approved).
#[derive(Debug, Clone, Copy)]
struct Req {
    /// Client index.
    k: usize,
    /// Composite index.
    ci: usize,
    side: u8,
    /// Base qty, or a quote-currency amount (`in_quote`).
    amount: i64,
    in_quote: bool,
    limit: i64,
    ttl: i64,
    rfq_id: u64,
}

/// Priced sides `[ask (client side 0), bid (client side 1)]` as `(price, qty)`, qty 0 = absent.
struct Eval {
    sides: [(i64, i64); 2],
    needs_approval: bool,
}

/// Signed change of the desk position when client side `side` trades `q`.
#[inline]
fn desk_delta(side: u8, q: i64) -> i64 {
    if side == 0 {
        -q
    } else {
        q
    }
}

/// Risk-reducing: the absolute desk position goes down.
#[inline]
fn reduces(pos: i64, dq: i64) -> bool {
    (i128::from(pos) + i128::from(dq)).abs() < i128::from(pos).abs()
}

/// Most records one RFQ-family input can cause besides the time-driven work: an accept's
/// EXEC, EXEC_FEES, QUOTE_END and two RISK_EVENTs.
pub const MAX_RFQ_OUT: usize = 5;

impl RfqState {
    /// A kill switch covers this client or composite.
    #[inline]
    pub(crate) fn killed(&self, k: usize, ci: usize) -> bool {
        self.desk_killed || self.clients[k].killed || self.inst[ci].killed
    }

    /// The desk position after `dq` stays within `[−short, long]`.
    #[inline]
    pub(crate) fn position_ok(&self, ci: usize, dq: i64) -> bool {
        let st = &self.inst[ci];
        let Some(r) = &st.risk else { return false };
        let after = i128::from(st.desk.qty) + i128::from(dq);
        after >= -i128::from(r.short_limit) && after <= i128::from(r.long_limit)
    }

    /// The client's credit use after trading `client_dq` at `price` stays within its limit, or
    /// does not grow.
    #[inline]
    pub(crate) fn credit_ok(&self, k: usize, ci: usize, client_dq: i64, price: i64) -> bool {
        let c = &self.clients[k];
        let p = &c.positions[ci];
        let after = p.after(client_dq, price);
        let to = self.inst[ci].to_credit;
        let util = c.util + (after.cost.abs() - p.cost.abs()) * to;
        util <= self.cents_to_credit(c.spec.credit_limit) || util <= c.util
    }

    /// Remove a pending approval, returning it.
    pub(crate) fn take_pending(&mut self, slot: usize) -> PendingSlot {
        let p = std::mem::replace(&mut self.pending[slot], PendingSlot::EMPTY);
        self.pending_heap.remove(slot);
        self.pending_count -= 1;
        self.free_pending.push(slot as u32);
        p
    }

    /// Count a published reject reason.
    #[inline]
    pub(crate) fn count_reject(&mut self, reason: i64) {
        self.stats.rejects[(reason as usize).min(63)] += 1;
    }

    /// A composite was repriced with this mid: update the volatility estimate.
    pub(crate) fn on_mid(&mut self, ci: usize, mid: i64) {
        let st = &mut self.inst[ci];
        if st.last_mid > 0 {
            let mv = i128::from((mid - st.last_mid).abs()) * 1_000_000_000 / i128::from(st.last_mid);
            let mv = mv.min(i128::from(i64::MAX / 4)) as i64; // milli-cbps
            st.vol_m += (mv - st.vol_m) >> st.pricing.vol_ema_shift;
        }
        st.last_mid = mid;
    }
}

impl Core {
    /// RFQ, ACCEPT, CANCEL or CONTROL: move the clock (END-flagged records only), do the
    /// time-driven work, then handle the record.
    pub(crate) fn rfq_record(&mut self, r: &Record, budget: &mut usize, out: &mut impl Sink) {
        let well_formed = r.flags & flags::END != 0;
        if well_formed {
            self.advance(r.ts_recv);
        }
        self.housekeep(r, budget, out);
        if well_formed && !self.hedging.states.is_empty() {
            self.hedge_timers(r, out);
        }
        match r.kind {
            kind::RFQ => self.on_rfq(r, out),
            kind::ACCEPT => self.on_accept(r, out),
            kind::CANCEL => self.on_cancel(r, out),
            kind::VENUE_REPORT => self.on_venue_report(r, out),
            kind::VENUE_STATUS => self.on_venue_status(r, out),
            kind::DESK_ORDER => self.on_desk_order(r, out),
            _ => {
                self.on_control(r, out);
                // a kill switch turned on starts cancelling in this very record
                self.kill_scan_step(r, budget, out);
            }
        }
    }

    /// Time-driven work before a record, at most `budget` outputs: quote expiries and
    /// approval timeouts in deadline order, then a step of a kill-switch cancellation scan.
    pub(crate) fn housekeep(&mut self, trigger: &Record, budget: &mut usize, out: &mut impl Sink) {
        while *budget > 0 {
            let q = self.rfq.expiry.peek().filter(|e| e.0 <= self.now);
            let p = self.rfq.pending_heap.peek().filter(|e| e.0 <= self.now);
            match (q, p) {
                (Some(q), Some(p)) if (p.0, p.1) < (q.0, q.1) => self.time_out(p.2, trigger, out),
                (Some(q), _) => self.end_quote(q.2, QuoteState::Expired, 0, trigger, out),
                (None, Some(p)) => self.time_out(p.2, trigger, out),
                (None, None) => break,
            }
            *budget -= 1;
        }
        self.kill_scan_step(trigger, budget, out);
    }

    /// Continue a kill-switch cancellation scan: examine at most [`KILL_SCAN_PER_RECORD`]
    /// quote-table slots, cancel at most `budget` quotes.
    fn kill_scan_step(&mut self, trigger: &Record, budget: &mut usize, out: &mut impl Sink) {
        let Some((mut slot, mut left)) = self.rfq.kill_scan else { return };
        let mut examined = 0;
        while left > 0 && examined < KILL_SCAN_PER_RECORD && *budget > 0 {
            if self.rfq.quotes[slot].live() && self.kill_cancels(slot) {
                self.end_quote(slot, QuoteState::Cancelled, 0, trigger, out);
                *budget -= 1;
            }
            slot = (slot + 1) & self.rfq.qmask as usize;
            left -= 1;
            examined += 1;
        }
        self.rfq.kill_scan = (left > 0).then_some((slot, left));
    }

    /// A live quote covered by a kill switch with a side that would not reduce the desk position.
    fn kill_cancels(&self, slot: usize) -> bool {
        let q = &self.rfq.quotes[slot];
        let (k, ci) = (q.client as usize, q.ci as usize);
        if !self.rfq.killed(k, ci) {
            return false;
        }
        let pos = self.rfq.inst[ci].desk.qty;
        (0..2).any(|s| q.sides[s].1 > 0 && !reduces(pos, desk_delta(s as u8, q.sides[s].1)))
    }

    /// End a live quote (expired, cancelled, filled or rejected at the hit): exactly one
    /// `QUOTE_END` per quote.
    fn end_quote(&mut self, slot: usize, state: QuoteState, reason: i64, trigger: &Record, out: &mut impl Sink) {
        let rfq = &mut self.rfq;
        rfq.expiry.remove(slot);
        let q = &mut rfq.quotes[slot];
        debug_assert_eq!(q.state, QuoteState::Live);
        q.state = state;
        let q = *q;
        let c = &mut rfq.clients[q.client as usize];
        c.open_quotes -= 1;
        match state {
            QuoteState::Expired => rfq.stats.expiries += 1,
            QuoteState::Cancelled => rfq.stats.cancels += 1,
            QuoteState::Rejected => rfq.stats.hit_rejects += 1,
            _ => {}
        }
        out.emit(&Record {
            kind: kind::QUOTE_END,
            instrument: self.composites[q.ci as usize].spec.id,
            side: reason as u8,
            flags: flags::END,
            source: c.spec.id,
            seq: q.id,
            ts_event: q.rfq_id as i64,
            ts_recv: self.now,
            price: 0,
            qty: 0,
            aux: state.code(),
            ts_send: trigger.ts_send,
        });
    }

    /// A pending approval timed out.
    fn time_out(&mut self, slot: usize, trigger: &Record, out: &mut impl Sink) {
        let p = self.rfq.take_pending(slot);
        self.rfq.stats.timeouts += 1;
        self.rfq_reject_pending(&p, rfq_reject::APPROVAL_TIMEOUT, trigger, out);
    }

    fn rfq_reject_pending(&mut self, p: &PendingSlot, reason: i64, trigger: &Record, out: &mut impl Sink) {
        self.rfq.count_reject(reason);
        out.emit(&Record {
            kind: kind::RFQ_REJECT,
            instrument: self.composites[p.ci as usize].spec.id,
            side: p.side,
            flags: flags::END | if p.in_quote { flags::QTY_IN_QUOTE } else { 0 },
            source: self.rfq.clients[p.client as usize].spec.id,
            seq: p.rfq_id,
            ts_event: 0,
            ts_recv: self.now,
            price: p.limit,
            qty: p.qty,
            aux: reason,
            ts_send: trigger.ts_send,
        });
    }

    // ---- RFQ ------------------------------------------------------------------------------

    fn on_rfq(&mut self, r: &Record, out: &mut impl Sink) {
        self.rfq.stats.rfqs += 1;
        match self.rfq_request(r) {
            Err(reason) => self.rfq_reject(r, reason, out),
            Ok(req) => match self.evaluate(&req, 0, 0, true) {
                Err(reason) => self.rfq_reject(r, reason, out),
                Ok(ev) if ev.needs_approval => self.start_approval(&req, &ev, r, out),
                Ok(ev) => {
                    if let Err(reason) = self.make_quote(&req, &ev, r, out) {
                        self.rfq_reject(r, reason, out);
                    }
                }
            },
        }
    }

    /// The request-level checks of an RFQ, in the documented order.
    fn rfq_request(&self, r: &Record) -> Result<Req, i64> {
        if r.flags & flags::END == 0 || r.seq == 0 {
            return Err(rfq_reject::MALFORMED);
        }
        let k = self.rfq.client_index(r.source).ok_or(rfq_reject::UNKNOWN_CLIENT)?;
        let c = &self.rfq.clients[k];
        if !c.spec.enabled {
            return Err(rfq_reject::NOT_AUTHORISED);
        }
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        if self.rfq.inst[ci].restricted() {
            return Err(rfq_reject::RESTRICTED);
        }
        if self.rfq.dedup.contains(r.source, r.seq) {
            return Err(rfq_reject::DUPLICATE_ID);
        }
        if !matches!(r.side, 0 | 1 | 255) {
            return Err(rfq_reject::BAD_SIDE);
        }
        if r.qty <= 0 {
            return Err(rfq_reject::BAD_SIZE);
        }
        if r.price < 0 {
            return Err(rfq_reject::BAD_LIMIT);
        }
        let tier = self.rfq.tier_of(k);
        if r.aux < 0 || r.aux > tier.max_ttl_ns {
            return Err(rfq_reject::BAD_TTL);
        }
        Ok(Req {
            k,
            ci,
            side: r.side,
            amount: r.qty,
            in_quote: r.flags & flags::QTY_IN_QUOTE != 0,
            limit: r.price,
            ttl: if r.aux == 0 { tier.ttl_ns } else { r.aux },
            rfq_id: r.seq,
        })
    }

    fn rfq_reject(&mut self, r: &Record, reason: i64, out: &mut impl Sink) {
        self.rfq.count_reject(reason);
        let flags = flags::END | (r.flags & flags::QTY_IN_QUOTE);
        out.emit(&Record { flags, ..echo(r, kind::RFQ_REJECT, r.side, reason, self.now) });
    }

    /// Pricing and every risk check of a request (at RFQ time, or again at approval time with
    /// the operator's adjustment / override and without the throttle and threshold).
    fn evaluate(&self, req: &Req, adj: i64, override_px: i64, at_rfq: bool) -> Result<Eval, i64> {
        let rfq = &self.rfq;
        let (k, ci) = (req.k, req.ci);
        let client = &rfq.clients[k];
        let st = &rfq.inst[ci];
        let risk = st.risk.as_ref().ok_or(rfq_reject::RESTRICTED)?;
        let mut active = match req.side {
            0 => [true, false],
            1 => [false, true],
            _ => [true, true],
        };
        let first = if req.side == 1 { 1 } else { 0 };
        let mut reason = [0_i64; 2];
        let pos = st.desk.qty;
        // kill switch: only risk-reducing sides survive (by direction alone for quote-currency
        // sizes; exactly once their size is known, below)
        if rfq.killed(k, ci) {
            for s in 0..2 {
                if active[s] {
                    let ok = if req.in_quote { desk_delta(s as u8, 1).signum() == -pos.signum() } else { reduces(pos, desk_delta(s as u8, req.amount)) };
                    if !ok {
                        active[s] = false;
                        reason[s] = rfq_reject::KILL_SWITCH;
                    }
                }
            }
            if !active[0] && !active[1] {
                return Err(reason[first]);
            }
        }
        if client.halted || st.halted {
            return Err(rfq_reject::HALTED);
        }
        if !self.hedge_ok(ci) {
            return Err(rfq_reject::HEDGE_UNAVAILABLE);
        }
        if at_rfq && !client.rfq_bucket.allows(&client.spec.rfq_rate, self.now) {
            return Err(rfq_reject::THROTTLED);
        }
        if client.open_quotes >= client.spec.max_open_quotes {
            return Err(rfq_reject::MAX_OPEN_QUOTES);
        }
        if !req.in_quote {
            if req.amount < risk.min_qty {
                return Err(rfq_reject::BELOW_MIN_SIZE);
            }
            if req.amount > risk.max_qty {
                return Err(rfq_reject::ABOVE_MAX_SIZE);
            }
        }
        // market: from the last repricing when it is still exact (see `MarketCache`), else
        // from the books
        let c = &self.composites[ci];
        let cached = self.cached_market(ci);
        // the usable books, filled only when needed (512 bytes: not written on the cached path)
        let mut store: Option<[(&L2Book, Conversion); MAX_MEMBERS]> = None;
        let blank = (&self.instruments[0].book, c.members[0].conv);
        let side_of = |s: usize| if s == 0 { Side::Ask } else { Side::Bid };
        // sweep notionals of the requested base size answered by the cached levels, per side
        let mut pre: [Option<Option<i128>>; 2] = [None; 2];
        let (n, (bb, ba)) = match cached {
            Some(m) => {
                let mut deep = req.in_quote;
                for s in 0..2 {
                    if active[s] && !req.in_quote {
                        pre[s] = m.prefix[side_of(s) as usize].notional(req.amount);
                        deep |= pre[s].is_none();
                    }
                }
                // the books only when a sweep goes beyond the cached levels (the usable set is
                // the cached one)
                (if deep { self.books_in(c, m.mask, store.insert([blank; MAX_MEMBERS])) } else { 0 }, m.best)
            }
            None => {
                let buf = store.insert([blank; MAX_MEMBERS]);
                let n = self.books_of(c, buf);
                if n == 0 {
                    return Err(match self.no_market_reason(c) {
                        withdraw::STALE => rfq_reject::STALE_MARKET,
                        withdraw::CROSSED => rfq_reject::CROSSED_MARKET,
                        _ => rfq_reject::NO_MARKET,
                    });
                }
                (n, best_of(&buf[..n]))
            }
        };
        if is_crossed(bb, ba, c.spec.cross_tolerance_cbps) {
            return Err(rfq_reject::CROSSED_MARKET);
        }
        let (Some(bb), Some(ba)) = (bb, ba) else { return Err(rfq_reject::NO_MARKET) };
        let mid = (bb + ba).div_euclid(2);
        if mid <= 0 {
            return Err(rfq_reject::NO_MARKET);
        }
        let mid128 = i128::from(mid);
        let tier = rfq.tier_of(k);
        let qd = c.spec.qty_decimals;
        let price_at = |s: usize, q: i64| -> Option<i64> {
            let side = side_of(s);
            let cached_nt = if q == req.amount && pre[s].is_some() { pre[s] } else { cached.and_then(|m| m.prefix[side as usize].notional(q)) };
            let nt = match cached_nt {
                Some(nt) => nt?,
                None => {
                    let mut nt = [None];
                    if let Some(buf) = &store {
                        sweep_ladder(&buf[..n], side, &[q], &mut nt);
                    } else {
                        // (not reached: the books are taken above whenever a sweep may be needed)
                        let mut own = [blank; MAX_MEMBERS];
                        let m = self.books_of(c, &mut own);
                        sweep_ladder(&own[..m], side, &[q], &mut nt);
                    }
                    nt[0]?
                }
            };
            let (sa, sb) = v2_spreads(&c.spec.pricing, qd, q, tier.markup_cbps, st.vol_m, &st.pricing, pos, adj);
            Some(if s == 0 { ask_price(nt, q, sa) } else { bid_price(nt, q, sb) })
        };
        let mut sides = [(0_i64, 0_i64); 2];
        let max_notional = i128::from(risk.max_notional) * st.cent;
        for s in 0..2 {
            if !active[s] {
                continue;
            }
            let res = (|| -> Result<(i64, i64), i64> {
                let q = if req.in_quote {
                    let a = i128::from(req.amount) * st.unit;
                    let q0 = i64::try_from(a / mid128).map_err(|_| rfq_reject::ABOVE_MAX_SIZE)?;
                    if q0 < risk.min_qty {
                        return Err(rfq_reject::BELOW_MIN_SIZE);
                    }
                    // never sweep further than the largest size allowed (bounds the work)
                    if q0 > risk.max_qty {
                        return Err(rfq_reject::ABOVE_MAX_SIZE);
                    }
                    let p0 = if override_px > 0 { override_px } else { price_at(s, q0).ok_or(rfq_reject::NO_MARKET)? };
                    if p0 <= 0 {
                        return Err(rfq_reject::NO_MARKET);
                    }
                    let q1 = i64::try_from(a / i128::from(p0)).map_err(|_| rfq_reject::ABOVE_MAX_SIZE)?;
                    if q1 < risk.min_qty {
                        return Err(rfq_reject::BELOW_MIN_SIZE);
                    }
                    if q1 > risk.max_qty {
                        return Err(rfq_reject::ABOVE_MAX_SIZE);
                    }
                    q1
                } else {
                    req.amount
                };
                if i128::from(q) * mid128 > max_notional {
                    return Err(rfq_reject::ABOVE_MAX_NOTIONAL);
                }
                let p = if override_px > 0 { override_px } else { price_at(s, q).ok_or(rfq_reject::NO_MARKET)? };
                if i128::from(p) * i128::from(q) > i128::from(i64::MAX) {
                    return Err(rfq_reject::ABOVE_MAX_NOTIONAL);
                }
                if (i128::from(p) - mid128).abs() * PPM > i128::from(risk.collar_cbps) * mid128 {
                    return Err(rfq_reject::PRICE_COLLAR);
                }
                if req.limit > 0 && ((s == 0 && p > req.limit) || (s == 1 && p < req.limit)) {
                    return Err(rfq_reject::EXCEEDS_LIMIT);
                }
                let dq = desk_delta(s as u8, q);
                if req.in_quote && rfq.killed(k, ci) && !reduces(pos, dq) {
                    return Err(rfq_reject::KILL_SWITCH);
                }
                if !rfq.position_ok(ci, dq) {
                    return Err(rfq_reject::POSITION_LIMIT);
                }
                if !rfq.credit_ok(k, ci, -dq, p) {
                    return Err(rfq_reject::INSUFFICIENT_CREDIT);
                }
                Ok((p, q))
            })();
            match res {
                Ok(pq) => sides[s] = pq,
                Err(e) => {
                    active[s] = false;
                    reason[s] = e;
                }
            }
        }
        if !active[0] && !active[1] {
            return Err(reason[first]);
        }
        if active[0] && active[1] && sides[1].0 >= sides[0].0 {
            return Err(rfq_reject::CROSSED_MARKET);
        }
        let needs_approval = at_rfq
            && (0..2).any(|s| {
                active[s]
                    && ((risk.approval_qty > 0 && sides[s].1 > risk.approval_qty)
                        || (risk.approval_notional > 0
                            && i128::from(sides[s].1) * mid128 > i128::from(risk.approval_notional) * st.cent))
            });
        Ok(Eval { sides, needs_approval })
    }

    /// Put a quote in the table and publish it (`Err(OTHER)` if its slot is still live).
    fn make_quote(&mut self, req: &Req, ev: &Eval, trigger: &Record, out: &mut impl Sink) -> Result<u64, i64> {
        let rfq = &mut self.rfq;
        let id = rfq.last_quote + 1;
        let slot = (id & rfq.qmask) as usize;
        if rfq.quotes[slot].live() {
            return Err(rfq_reject::OTHER);
        }
        let fresh = rfq.dedup.insert(rfq.clients[req.k].spec.id, req.rfq_id);
        let tier = rfq.tier_of(req.k);
        let (partial, fee) = (tier.allow_partial, tier.fee_cbps);
        let now = self.now;
        let c = &mut rfq.clients[req.k];
        if fresh {
            // at RFQ time (an approved RFQ has consumed its id and its token already)
            c.rfq_bucket.take(&c.spec.rfq_rate, now);
        }
        c.open_quotes += 1;
        let client_id = c.spec.id;
        let valid_until = now.saturating_add(req.ttl);
        rfq.last_quote = id;
        rfq.quotes[slot] = QuoteSlot {
            id,
            client: req.k as u16,
            ci: req.ci as u16,
            rfq_id: req.rfq_id,
            sides: ev.sides,
            created: now,
            valid_until,
            partial,
            fee_cbps: fee,
            state: QuoteState::Live,
        };
        rfq.expiry.push(slot, valid_until, id);
        rfq.stats.quotes += 1;
        let last = if ev.sides[1].1 > 0 { 1 } else { 0 };
        for s in 0..2 {
            let (price, qty) = ev.sides[s];
            if qty == 0 {
                continue;
            }
            out.emit(&Record {
                kind: kind::RFQ_QUOTE,
                instrument: self.composites[req.ci].spec.id,
                side: s as u8,
                flags: if s == last { flags::END } else { 0 } | if partial { flags::PARTIAL_OK } else { 0 },
                source: client_id,
                seq: id,
                ts_event: valid_until,
                ts_recv: now,
                price,
                qty,
                aux: req.rfq_id as i64,
                ts_send: trigger.ts_send,
            });
        }
        Ok(id)
    }

    fn start_approval(&mut self, req: &Req, ev: &Eval, r: &Record, out: &mut impl Sink) {
        let now = self.now;
        let rfq = &mut self.rfq;
        let Some(slot) = rfq.free_pending.pop() else {
            return self.rfq_reject(r, rfq_reject::OTHER, out);
        };
        let slot = slot as usize;
        let timeout = rfq.inst[req.ci].risk.as_ref().map_or(1, |x| x.approval_timeout_ns);
        rfq.last_request += 1;
        let id = rfq.last_request;
        let indicative = if ev.sides[0].1 > 0 { ev.sides[0].0 } else { ev.sides[1].0 };
        let deadline = now.saturating_add(timeout);
        rfq.pending[slot] = PendingSlot {
            id,
            client: req.k as u16,
            ci: req.ci as u16,
            side: req.side,
            qty: req.amount,
            in_quote: req.in_quote,
            limit: req.limit,
            ttl: req.ttl,
            rfq_id: req.rfq_id,
            indicative,
            deadline,
        };
        rfq.pending_count += 1;
        rfq.pending_heap.push(slot, deadline, id);
        rfq.dedup.insert(r.source, r.seq);
        let c = &mut rfq.clients[req.k];
        c.rfq_bucket.take(&c.spec.rfq_rate, now);
        rfq.stats.approvals += 1;
        out.emit(&Record {
            kind: kind::APPROVAL_PENDING,
            instrument: r.instrument,
            side: r.side,
            flags: flags::END | (r.flags & flags::QTY_IN_QUOTE),
            source: r.source,
            seq: r.seq,
            ts_event: deadline,
            ts_recv: now,
            price: indicative,
            qty: r.qty,
            aux: id as i64,
            ts_send: r.ts_send,
        });
    }

    // ---- ACCEPT ---------------------------------------------------------------------------

    /// Validation of an accept (no state change on failure): `(slot, side, qty)`.
    fn accept_checks(&self, r: &Record) -> Result<(usize, usize, i64), i64> {
        if r.flags & flags::END == 0 || r.seq == 0 {
            return Err(rfq_reject::MALFORMED);
        }
        let k = self.rfq.client_index(r.source).ok_or(rfq_reject::UNKNOWN_CLIENT)?;
        let slot = self.rfq.quote_slot(r.seq).ok_or(rfq_reject::UNKNOWN_QUOTE)?;
        let q = &self.rfq.quotes[slot];
        if self.composites[q.ci as usize].spec.id != r.instrument {
            return Err(rfq_reject::UNKNOWN_QUOTE);
        }
        if q.client as usize != k || !self.rfq.clients[k].spec.enabled {
            return Err(rfq_reject::NOT_AUTHORISED);
        }
        if q.state == QuoteState::Expired || r.ts_recv >= q.valid_until {
            return Err(rfq_reject::TOO_LATE);
        }
        if q.state != QuoteState::Live {
            return Err(rfq_reject::QUOTE_NOT_LIVE);
        }
        let s = match r.side {
            0 | 1 if q.sides[r.side as usize].1 > 0 => r.side as usize,
            _ => return Err(rfq_reject::BAD_SIDE),
        };
        let (price, qty) = q.sides[s];
        if r.price != price {
            return Err(rfq_reject::PRICE_MISMATCH);
        }
        let size_ok = if q.partial { r.qty > 0 && r.qty <= qty } else { r.qty == qty };
        if !size_ok {
            return Err(rfq_reject::SIZE_MISMATCH);
        }
        Ok((slot, s, r.qty))
    }

    /// Risk at the moment of the hit, against current state.
    fn hit_checks(&self, slot: usize, s: usize, q: i64) -> Result<(), i64> {
        let rfq = &self.rfq;
        let quote = &rfq.quotes[slot];
        let (k, ci) = (quote.client as usize, quote.ci as usize);
        let client = &rfq.clients[k];
        let st = &rfq.inst[ci];
        let dq = desk_delta(s as u8, q);
        if rfq.killed(k, ci) && !reduces(st.desk.qty, dq) {
            return Err(rfq_reject::KILL_SWITCH);
        }
        if client.halted || st.halted {
            return Err(rfq_reject::HALTED);
        }
        if !reduces(st.desk.qty, dq) && !self.hedge_ok(ci) {
            return Err(rfq_reject::HEDGE_UNAVAILABLE);
        }
        if !client.accept_bucket.allows(&client.spec.accept_rate, self.now) {
            return Err(rfq_reject::THROTTLED);
        }
        let price = quote.sides[s].0;
        if !rfq.position_ok(ci, dq) {
            return Err(rfq_reject::POSITION_LIMIT);
        }
        if !rfq.credit_ok(k, ci, -dq, price) {
            return Err(rfq_reject::INSUFFICIENT_CREDIT);
        }
        // the collar against the mid now; without a usable two-sided market it cannot be checked
        let risk = st.risk.as_ref().ok_or(rfq_reject::RESTRICTED)?;
        let mid = self.mid_of(ci).ok_or(rfq_reject::NO_MARKET)?;
        if (i128::from(price) - i128::from(mid)).abs() * PPM > i128::from(risk.collar_cbps) * i128::from(mid) {
            return Err(rfq_reject::PRICE_COLLAR);
        }
        Ok(())
    }

    fn on_accept(&mut self, r: &Record, out: &mut impl Sink) {
        let (slot, s, q) = match self.accept_checks(r) {
            Ok(x) => x,
            Err(reason) => return self.accept_reject(r, reason, out),
        };
        if let Err(reason) = self.hit_checks(slot, s, q) {
            // the documented exception: the quote ends `rejected`
            self.accept_reject(r, reason, out);
            return self.end_quote(slot, QuoteState::Rejected, reason, r, out);
        }
        self.fill(slot, s, q, r, out);
    }

    fn accept_reject(&mut self, r: &Record, reason: i64, out: &mut impl Sink) {
        self.rfq.count_reject(reason);
        out.emit(&Record {
            kind: kind::ACCEPT_REJECT,
            instrument: r.instrument,
            side: r.side,
            flags: flags::END,
            source: r.source,
            seq: r.seq,
            ts_event: r.aux,
            ts_recv: self.now,
            price: r.price,
            qty: r.qty,
            aux: reason,
            ts_send: r.ts_send,
        });
    }

    fn fill(&mut self, slot: usize, s: usize, q: i64, r: &Record, out: &mut impl Sink) {
        let now = self.now;
        let rfq = &mut self.rfq;
        let quote = rfq.quotes[slot];
        let (k, ci) = (quote.client as usize, quote.ci as usize);
        let price = quote.sides[s].0;
        let notional = i128::from(price) * i128::from(q);
        let fee = rfq_model::fixed::div_ceil_i128(notional * i128::from(quote.fee_cbps), PPM);
        let dq = desk_delta(s as u8, q);
        rfq.last_trade += 1;
        let trade = rfq.last_trade;
        let to_credit = rfq.inst[ci].to_credit;
        let st = &mut rfq.inst[ci];
        st.desk.apply(dq, price);
        st.desk.fees += fee;
        let c = &mut rfq.clients[k];
        let before = c.positions[ci].cost.abs();
        c.positions[ci].apply(-dq, price);
        c.positions[ci].fees += fee;
        c.util += (c.positions[ci].cost.abs() - before) * to_credit;
        c.accept_bucket.take(&c.spec.accept_rate, now);
        rfq.stats.fills += 1;
        let client_id = c.spec.id;
        let instrument = self.composites[ci].spec.id;
        out.emit(&Record {
            kind: kind::EXEC,
            instrument,
            side: s as u8,
            flags: 0,
            source: client_id,
            seq: trade,
            ts_event: r.aux,
            ts_recv: now,
            price,
            qty: q,
            aux: quote.id as i64,
            ts_send: r.ts_send,
        });
        out.emit(&Record {
            kind: kind::EXEC_FEES,
            instrument,
            side: s as u8,
            flags: flags::END,
            source: client_id,
            seq: trade,
            ts_event: r.aux,
            ts_recv: now,
            price: fee as i64,
            qty: notional as i64,
            aux: quote.rfq_id as i64,
            ts_send: r.ts_send,
        });
        self.end_quote(slot, QuoteState::Filled, 0, r, out);
        self.on_client_fill(ci, dq, price, r, out);
        // repeated-execution throttle
        let rfq = &mut self.rfq;
        let (count, window) = (rfq.desk.exec_count, rfq.desk.exec_window_ns);
        let c = &mut rfq.clients[k];
        let n = c.exec.record(now, count, window);
        let client_halt = count > 0 && n >= count && !c.halted;
        c.halted |= client_halt;
        let st = &mut rfq.inst[ci];
        let m = st.exec.record(now, count, window);
        let inst_halt = count > 0 && m >= count && !st.halted;
        st.halted |= inst_halt;
        for (halt, code, cnt) in [(client_halt, 1_u8, n), (inst_halt, 2, m)] {
            if halt {
                rfq.stats.risk_events += 1;
                out.emit(&Record {
                    kind: kind::RISK_EVENT,
                    instrument,
                    side: code,
                    flags: flags::END,
                    source: 0,
                    seq: trade,
                    ts_event: 0,
                    ts_recv: now,
                    price: i64::from(client_id),
                    qty: i64::from(cnt),
                    aux: 0,
                    ts_send: r.ts_send,
                });
            }
        }
    }

    // ---- CANCEL ---------------------------------------------------------------------------

    /// A cancel by a client (`client` = its id) or the desk (0): `Ok(slot)` of a live quote.
    fn cancel_checks(&self, client: u16, quote_id: u64) -> Result<usize, i64> {
        let k = if client == 0 { None } else { Some(self.rfq.client_index(client).ok_or(rfq_reject::UNKNOWN_CLIENT)?) };
        let slot = self.rfq.quote_slot(quote_id).ok_or(rfq_reject::UNKNOWN_QUOTE)?;
        let q = &self.rfq.quotes[slot];
        if k.is_some_and(|k| k != q.client as usize) {
            return Err(rfq_reject::NOT_AUTHORISED);
        }
        if q.state != QuoteState::Live {
            return Err(rfq_reject::QUOTE_NOT_LIVE);
        }
        Ok(slot)
    }

    fn on_cancel(&mut self, r: &Record, out: &mut impl Sink) {
        let res = if r.flags & flags::END == 0 || r.seq == 0 { Err(rfq_reject::MALFORMED) } else { self.cancel_checks(r.source, r.seq) };
        match res {
            Ok(slot) => self.end_quote(slot, QuoteState::Cancelled, 0, r, out),
            Err(reason) => {
                self.rfq.count_reject(reason);
                out.emit(&echo(r, kind::CANCEL_REJECT, r.side, reason, self.now));
            }
        }
    }

    // ---- CONTROL --------------------------------------------------------------------------

    fn on_control(&mut self, r: &Record, out: &mut impl Sink) {
        self.rfq.stats.controls += 1;
        let (aux, prev) = if r.flags & flags::END == 0 || r.seq == 0 {
            (rfq_reject::MALFORMED, 0)
        } else {
            match self.control(r, out) {
                Ok(prev) => (0, prev),
                Err(reason) => (reason, 0),
            }
        };
        if aux != 0 {
            self.rfq.count_reject(aux);
        }
        out.emit(&Record {
            kind: kind::CONTROL_ACK,
            instrument: r.instrument,
            side: r.side,
            flags: flags::END,
            source: r.source,
            seq: r.seq,
            ts_event: prev,
            ts_recv: self.now,
            price: r.price,
            qty: r.qty,
            aux,
            ts_send: r.ts_send,
        });
    }

    /// Validate and apply one operator command. `Ok(previous value)`; `Err(reason)` changes
    /// nothing.
    fn control(&mut self, r: &Record, out: &mut impl Sink) -> Result<i64, i64> {
        let bad = rfq_reject::BAD_COMMAND;
        let flag = |v: i64| match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad),
        };
        match r.side {
            control::KILL => {
                let on = flag(r.qty)?;
                let sw = self.kill_switch(r)?;
                let prev = std::mem::replace(sw, on);
                if on && !prev {
                    // cancel the live quotes now covered, a bounded step per record
                    self.rfq.kill_scan = Some((0, self.rfq.quotes.len()));
                }
                Ok(i64::from(prev))
            }
            control::REENABLE => {
                if r.price != 0 {
                    let k = self.control_client(r.price)?;
                    let c = &mut self.rfq.clients[k];
                    let prev = std::mem::replace(&mut c.halted, false);
                    c.exec.reset();
                    Ok(i64::from(prev))
                } else if r.instrument != 0 {
                    let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
                    let st = &mut self.rfq.inst[ci];
                    let prev = std::mem::replace(&mut st.halted, false);
                    st.exec.reset();
                    Ok(i64::from(prev))
                } else {
                    Err(bad)
                }
            }
            control::RESTRICT => {
                let on = flag(r.qty)?;
                let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
                let risk = self.rfq.inst[ci].risk.as_mut().ok_or(bad)?;
                Ok(i64::from(std::mem::replace(&mut risk.restricted, on)))
            }
            control::SET_CLIENT => {
                let k = self.control_client(r.price)?;
                let v = r.qty;
                let rfq = &mut self.rfq;
                let known_tier = u8::try_from(v).ok().and_then(|t| rfq.tier_index(t)).is_some();
                let c = &mut rfq.clients[k];
                let u32v = u32::try_from(v).map_err(|_| bad);
                let prev = match r.source {
                    1 if v >= 0 => std::mem::replace(&mut c.spec.credit_limit, v),
                    2 => i64::from(std::mem::replace(&mut c.spec.max_open_quotes, u32v?)),
                    3 | 5 => {
                        let t = if r.source == 3 { c.spec.rfq_rate } else { c.spec.accept_rate };
                        let n = rfq_model::Throttle { per_sec: u32v?, ..t };
                        if n.per_sec > 0 && n.burst == 0 {
                            return Err(bad);
                        }
                        c.set_throttle(r.source == 3, n);
                        i64::from(t.per_sec)
                    }
                    4 | 6 => {
                        let t = if r.source == 4 { c.spec.rfq_rate } else { c.spec.accept_rate };
                        let n = rfq_model::Throttle { burst: u32v?, ..t };
                        if n.per_sec > 0 && n.burst == 0 {
                            return Err(bad);
                        }
                        c.set_throttle(r.source == 4, n);
                        i64::from(t.burst)
                    }
                    7 if known_tier => i64::from(std::mem::replace(&mut c.spec.tier, v as u8)),
                    8 => i64::from(std::mem::replace(&mut c.spec.enabled, flag(v)?)),
                    _ => return Err(bad),
                };
                Ok(prev)
            }
            control::SET_INSTRUMENT => {
                let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
                let risk = self.rfq.inst[ci].risk.as_mut().ok_or(bad)?;
                let mut n = risk.clone();
                let v = r.qty;
                let field = match r.source {
                    1 => &mut n.min_qty,
                    2 => &mut n.max_qty,
                    3 => &mut n.max_notional,
                    4 => &mut n.long_limit,
                    5 => &mut n.short_limit,
                    6 => &mut n.collar_cbps,
                    7 => &mut n.approval_qty,
                    8 => &mut n.approval_notional,
                    9 => &mut n.approval_timeout_ns,
                    _ => return Err(bad),
                };
                let prev = std::mem::replace(field, v);
                let check = RfqConfig { risk: vec![n.clone()], ..RfqConfig::default() };
                check.validate().map_err(|_| bad)?;
                *risk = n;
                Ok(prev)
            }
            control::SET_TIER => {
                let t = u8::try_from(r.price).ok().and_then(|t| if t == 0 { None } else { self.rfq.tier_index(t) }).ok_or(bad)?;
                let tier = &mut self.rfq.tiers[t];
                let mut n = tier.clone();
                let v = r.qty;
                let prev = match r.source {
                    1 => std::mem::replace(&mut n.markup_cbps, v),
                    2 => std::mem::replace(&mut n.fee_cbps, v),
                    3 => std::mem::replace(&mut n.ttl_ns, v),
                    4 => std::mem::replace(&mut n.max_ttl_ns, v),
                    5 => i64::from(std::mem::replace(&mut n.allow_partial, flag(v)?)),
                    _ => return Err(bad),
                };
                let check = RfqConfig { tiers: vec![n.clone()], ..RfqConfig::default() };
                check.validate().map_err(|_| bad)?;
                *tier = n;
                Ok(prev)
            }
            control::SET_PRICING => {
                let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
                let v = r.qty;
                let c = &mut self.composites[ci];
                let p = &mut self.rfq.inst[ci].pricing;
                let prev = match r.source {
                    1 if v >= 0 => std::mem::replace(&mut p.skew_cbps_per_unit, v),
                    2 if v >= 0 => std::mem::replace(&mut p.max_skew_cbps, v),
                    3 if v >= 0 => std::mem::replace(&mut p.vol_mult_pct, v),
                    4 if (0..=20).contains(&v) => i64::from(std::mem::replace(&mut p.vol_ema_shift, v as u32)),
                    5 if v >= 0 => std::mem::replace(&mut p.hedge_fee_cbps, v),
                    6 | 7 => {
                        let mut n = c.spec.pricing.clone();
                        let prev = std::mem::replace(if r.source == 6 { &mut n.base_cbps } else { &mut n.size_cbps_per_unit }, v);
                        n.validate().map_err(|_| bad)?;
                        c.spec.pricing = n;
                        // reprice the ladder at the next tick, as `set_pricing` does
                        c.priced = false;
                        prev
                    }
                    _ => return Err(bad),
                };
                Ok(prev)
            }
            control::SET_DESK => {
                let v = r.qty;
                let d = &mut self.rfq.desk;
                match r.source {
                    1 if (0..=MAX_EXEC_COUNT as i64).contains(&v) => Ok(i64::from(std::mem::replace(&mut d.exec_count, v as u32))),
                    2 if v > 0 => Ok(std::mem::replace(&mut d.exec_window_ns, v)),
                    _ => Err(bad),
                }
            }
            control::SET_HEDGE => {
                let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
                let hi = self.hedging.by_ci.get(ci).copied().flatten().ok_or(bad)?;
                let now = self.now;
                let s = &mut self.hedging.states[hi];
                let v = r.qty;
                let prev = match r.source {
                    1 => {
                        let mode = match v {
                            0 => rfq_model::HedgeMode::Off,
                            1 => rfq_model::HedgeMode::Full,
                            2 if (1..=100).contains(&s.spec.ratio_pct) => rfq_model::HedgeMode::Partial,
                            3 if s.spec.threshold > 0 => rfq_model::HedgeMode::Threshold,
                            _ => return Err(bad),
                        };
                        if mode != rfq_model::HedgeMode::Off && s.venues.is_empty() {
                            return Err(bad);
                        }
                        let old = std::mem::replace(&mut s.spec.mode, mode);
                        crate::hedge::mode_code(old).into()
                    }
                    2 if (1..=100).contains(&v) => std::mem::replace(&mut s.spec.ratio_pct, v),
                    3 if v > 0 => std::mem::replace(&mut s.spec.threshold, v),
                    4 if (0..1_000_000).contains(&v) => std::mem::replace(&mut s.spec.max_slippage_cbps, v),
                    5 if v >= 0 => std::mem::replace(&mut s.spec.retry_ns, v),
                    _ => return Err(bad),
                };
                // apply the new policy at the next record (a due retry)
                s.retry_at = now.max(1);
                Ok(prev)
            }
            control::SET_LADDER => {
                let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
                let mut n = self.composites[ci].spec.pricing.clone();
                let prev = match r.source {
                    1 => {
                        let i = usize::try_from(r.aux).map_err(|_| bad)?;
                        if r.qty <= 0 || i > n.sizes.len() || i >= crate::core::MAX_SIZES {
                            return Err(bad);
                        }
                        if i == n.sizes.len() {
                            n.sizes.push(r.qty);
                            0
                        } else {
                            std::mem::replace(&mut n.sizes[i], r.qty)
                        }
                    }
                    2 => {
                        let k = usize::try_from(r.qty).map_err(|_| bad)?;
                        if k == 0 || k > n.sizes.len() {
                            return Err(bad);
                        }
                        let prev = n.sizes.len() as i64;
                        n.sizes.truncate(k);
                        prev
                    }
                    _ => return Err(bad),
                };
                n.validate().map_err(|_| bad)?;
                let id = self.composites[ci].spec.id;
                self.set_pricing(id, n).map_err(|_| bad)?;
                Ok(prev)
            }
            control::SET_MEMBER => {
                let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
                let inst = u16::try_from(r.price).map_err(|_| bad)?;
                if !(0..=1).contains(&r.qty) {
                    return Err(bad);
                }
                let id = self.composites[ci].spec.id;
                let idx = self.index(inst).ok_or(bad)?;
                let prev = self.composites[ci].members.iter().find(|m| m.inst == idx).map(|m| i64::from(m.included)).ok_or(bad)?;
                self.set_member(id, inst, r.qty == 1).map_err(|_| bad)?;
                Ok(prev)
            }
            control::APPROVE => self.approve(r, out),
            control::DECLINE => {
                let slot = u64::try_from(r.price).ok().and_then(|id| self.rfq.pending_slot(id)).ok_or(rfq_reject::UNKNOWN_REQUEST)?;
                let p = self.rfq.take_pending(slot);
                self.rfq.stats.declined += 1;
                self.rfq_reject_pending(&p, rfq_reject::APPROVAL_DECLINED, r, out);
                Ok(0)
            }
            control::CANCEL_QUOTE => {
                let id = u64::try_from(r.price).map_err(|_| rfq_reject::UNKNOWN_QUOTE)?;
                let slot = self.cancel_checks(0, id)?;
                self.end_quote(slot, QuoteState::Cancelled, 0, r, out);
                Ok(0)
            }
            _ => Err(bad),
        }
    }

    /// A client named by a CONTROL's `price`.
    fn control_client(&self, price: i64) -> Result<usize, i64> {
        let id = u16::try_from(price).map_err(|_| rfq_reject::BAD_COMMAND)?;
        if id == 0 {
            return Err(rfq_reject::BAD_COMMAND);
        }
        self.rfq.client_index(id).ok_or(rfq_reject::UNKNOWN_CLIENT)
    }

    /// The kill switch a KILL command names.
    fn kill_switch(&mut self, r: &Record) -> Result<&mut bool, i64> {
        if r.price != 0 {
            let k = self.control_client(r.price)?;
            Ok(&mut self.rfq.clients[k].killed)
        } else if r.instrument != 0 {
            let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
            Ok(&mut self.rfq.inst[ci].killed)
        } else {
            Ok(&mut self.rfq.desk_killed)
        }
    }

    /// APPROVE: re-run pricing and every risk check (not the threshold) with the operator's
    /// adjustment or override, then quote or reject. `Ok(quote id or 0)`.
    fn approve(&mut self, r: &Record, out: &mut impl Sink) -> Result<i64, i64> {
        let slot = u64::try_from(r.price).ok().and_then(|id| self.rfq.pending_slot(id)).ok_or(rfq_reject::UNKNOWN_REQUEST)?;
        let p = self.rfq.pending[slot];
        if r.qty < 0 || (r.qty > 0 && p.side == 255) || r.aux.unsigned_abs() >= PPM as u64 {
            return Err(rfq_reject::BAD_COMMAND);
        }
        let p = self.rfq.take_pending(slot);
        self.rfq.stats.approved += 1;
        let req = Req { k: p.client as usize, ci: p.ci as usize, side: p.side, amount: p.qty, in_quote: p.in_quote, limit: p.limit, ttl: p.ttl, rfq_id: p.rfq_id };
        let res = if !self.rfq.clients[req.k].spec.enabled {
            Err(rfq_reject::NOT_AUTHORISED)
        } else if self.rfq.inst[req.ci].restricted() {
            Err(rfq_reject::RESTRICTED)
        } else {
            self.evaluate(&req, r.aux, r.qty, false).and_then(|ev| self.make_quote(&req, &ev, r, out))
        };
        match res {
            Ok(id) => Ok(id as i64),
            Err(reason) => {
                self.rfq_reject_pending(&p, reason, r, out);
                Ok(0)
            }
        }
    }

    /// Touch every page of the RFQ tables (the duplicate-id set, reserved for
    /// [`crate::DEDUP_RESERVE`] blocks of 64 ids, and the deadline heaps) once, so the first RFQs do not
    /// pay page faults (~1-2 µs each) on the hot path. Changes no state; takes tens of ms.
    /// [`crate::Runner::spawn`] calls it on the core thread before the first record; inline
    /// users may call it themselves. Nothing to do without clients.
    pub fn prefault(&mut self) {
        if !self.rfq.clients.is_empty() {
            self.rfq.prefault();
        }
    }

    /// Composite mid `(best bid + best ask) / 2` (floor) over the usable, basis-adjusted member
    /// books; `None` without a two-sided usable market or when crossed beyond tolerance.
    pub fn composite_mid(&self, composite: u16) -> Option<i64> {
        let ci = self.composite_index(composite)?;
        self.mid_of(ci)
    }

    pub(crate) fn mid_of(&self, ci: usize) -> Option<i64> {
        let c = &self.composites[ci];
        let (b, a) = match self.cached_market(ci) {
            Some(m) => m.best,
            None => {
                let mut books: [(&L2Book, Conversion); MAX_MEMBERS] = [(&self.instruments[0].book, c.members[0].conv); MAX_MEMBERS];
                let n = self.books_of(c, &mut books);
                best_of(&books[..n])
            }
        };
        if is_crossed(b, a, c.spec.cross_tolerance_cbps) {
            return None;
        }
        Some((b? + a?).div_euclid(2))
    }

    /// The books of the members in `mask` (a usable set) with their conversions in
    /// `buf[..n]`, as [`Core::usable_books`] gives them; returns `n`.
    #[inline]
    fn books_in<'a>(&'a self, c: &CompositeState, mask: u32, buf: &mut [(&'a L2Book, Conversion); MAX_MEMBERS]) -> usize {
        let mut n = 0;
        for (i, m) in c.members.iter().enumerate() {
            if mask & (1 << i) != 0 {
                buf[n] = (&self.instruments[m.inst].book, self.member_conv(c, m));
                n += 1;
            }
        }
        n
    }

    /// The usable books of a composite with their conversions in `buf[..n]`; returns `n`.
    #[inline]
    fn books_of<'a>(&'a self, c: &CompositeState, buf: &mut [(&'a L2Book, Conversion); MAX_MEMBERS]) -> usize {
        let mut n = 0;
        for (i, m) in c.members.iter().enumerate() {
            if self.usable(c, i) {
                buf[n] = (&self.instruments[m.inst].book, self.member_conv(c, m));
                n += 1;
            }
        }
        n
    }

    fn position_view(&self, ci: usize, p: &crate::positions::Position) -> PositionView {
        let mid = self.mid_of(ci);
        PositionView {
            composite: self.composites[ci].spec.id,
            qty: p.qty,
            cost: p.cost,
            realised: p.realised,
            unrealised: mid.map(|m| i128::from(p.qty) * i128::from(m) - p.cost),
            fees: p.fees,
            trades: p.trades,
        }
    }

    /// The desk's position in a composite.
    pub fn position(&self, composite: u16) -> Option<PositionView> {
        let ci = self.composite_index(composite)?;
        Some(self.position_view(ci, &self.rfq.inst[ci].desk))
    }

    /// A client's position in a composite.
    pub fn client_position(&self, client: u16, composite: u16) -> Option<PositionView> {
        let ci = self.composite_index(composite)?;
        let k = self.rfq.client_index(client)?;
        Some(self.position_view(ci, &self.rfq.clients[k].positions[ci]))
    }

    /// A client's settings, switches and credit use.
    pub fn client_view(&self, client: u16) -> Option<ClientView> {
        let k = self.rfq.client_index(client)?;
        let c = &self.rfq.clients[k];
        Some(ClientView {
            id: c.spec.id,
            name: c.spec.name.clone(),
            tier: c.spec.tier,
            enabled: c.spec.enabled,
            killed: c.killed,
            halted: c.halted,
            credit_limit: c.spec.credit_limit,
            utilised: self.rfq.util_cents(k),
            open_quotes: c.open_quotes,
            max_open_quotes: c.spec.max_open_quotes,
            rfq_rate: c.spec.rfq_rate,
            accept_rate: c.spec.accept_rate,
        })
    }

    /// A composite's risk limits, switches and pricing knobs.
    pub fn instrument_view(&self, composite: u16) -> Option<InstrumentView> {
        let ci = self.composite_index(composite)?;
        let st = &self.rfq.inst[ci];
        let p = &self.composites[ci].spec.pricing;
        Some(InstrumentView {
            composite,
            risk: st.risk.clone(),
            killed: st.killed,
            halted: st.halted,
            restricted: st.restricted(),
            pricing: st.pricing.clone(),
            base_cbps: p.base_cbps,
            size_cbps_per_unit: p.size_cbps_per_unit,
            vol_cbps: st.vol_m / 1000,
        })
    }

    /// The desk-wide kill switch is on.
    pub fn desk_killed(&self) -> bool {
        self.rfq.desk_killed
    }

    /// A quote still in the quote table (the last `DeskSpec::quote_table` ids).
    pub fn quote_view(&self, quote_id: u64) -> Option<QuoteView> {
        let s = self.rfq.quote_slot(quote_id)?;
        let q = &self.rfq.quotes[s];
        let side = |i: usize| (q.sides[i].1 > 0).then_some(q.sides[i]);
        Some(QuoteView {
            quote_id,
            client: self.rfq.clients[q.client as usize].spec.id,
            composite: self.composites[q.ci as usize].spec.id,
            client_rfq_id: q.rfq_id,
            ask: side(0),
            bid: side(1),
            created: q.created,
            valid_until: q.valid_until,
            partial_ok: q.partial,
            state: q.state,
        })
    }

    /// RFQs waiting for an operator, by request id.
    pub fn pending(&self) -> Vec<PendingView> {
        let mut v: Vec<PendingView> = self
            .rfq
            .pending
            .iter()
            .filter(|p| p.id != 0)
            .map(|p| PendingView {
                request_id: p.id,
                client: self.rfq.clients[p.client as usize].spec.id,
                composite: self.composites[p.ci as usize].spec.id,
                side: p.side,
                qty: p.qty,
                qty_in_quote: p.in_quote,
                limit: p.limit,
                indicative: p.indicative,
                deadline: p.deadline,
                client_rfq_id: p.rfq_id,
            })
            .collect();
        v.sort_by_key(|p| p.request_id);
        v
    }

    /// RFQ workflow counters.
    pub fn rfq_stats(&self) -> &RfqStats {
        &self.rfq.stats
    }
}
