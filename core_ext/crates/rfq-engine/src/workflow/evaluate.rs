//! Pricing and every risk check of a request, at RFQ time or again at approval time: the
//! kill-switch filter of the sides, the request's limits, the market it is priced from, then
//! each side priced and checked, and whether it needs an operator's approval.

use super::{desk_delta, reduces, Req};
use crate::core::{best_of, is_crossed, CompositeState, Core, MarketCache};
use crate::pricing::{ask_price, bid_price, v2_spreads, PPM};
use crate::rfq::InstRfq;
use rfq_book::composite::{sweep_ladder, Conversion, MAX_MEMBERS};
use rfq_book::L2Book;
use rfq_model::{InstrumentRisk, Side, TierSpec};
use rfq_ring::record::{rfq_reject, withdraw};

/// Priced sides `[ask (client side 0), bid (client side 1)]` as `(price, qty)`, qty 0 = absent.
pub(super) struct Eval {
    pub(super) sides: [(i64, i64); 2],
    pub(super) needs_approval: bool,
}

/// The book side a client side `s` is priced from (0 = the client buys: asks).
#[inline]
fn side_of(s: usize) -> Side {
    if s == 0 {
        Side::Ask
    } else {
        Side::Bid
    }
}

/// The sides of a request still in play and, for each side dropped, why.
struct Sides {
    active: [bool; 2],
    reason: [i64; 2],
    /// The side whose reason is reported when none is left.
    first: usize,
}

impl Sides {
    #[inline]
    fn of(side: u8) -> Sides {
        let active = match side {
            0 => [true, false],
            1 => [false, true],
            _ => [true, true],
        };
        Sides { active, reason: [0; 2], first: if side == 1 { 1 } else { 0 } }
    }

    #[inline]
    fn drop_side(&mut self, s: usize, reason: i64) {
        self.active[s] = false;
        self.reason[s] = reason;
    }

    /// `Err(reason of the first requested side)` once no side is left.
    #[inline]
    fn any_left(&self) -> Result<(), i64> {
        if !self.active[0] && !self.active[1] {
            return Err(self.reason[self.first]);
        }
        Ok(())
    }
}

/// What a request is priced from: the market (the last repricing's levels when still exact,
/// else the usable books) and the pricing inputs of the client and composite.
struct Pricer<'a> {
    core: &'a Core,
    c: &'a CompositeState,
    st: &'a InstRfq,
    tier: &'a TierSpec,
    /// The request's amount (base units unless in quote currency).
    amount: i64,
    /// The operator's spread adjustment (approval), cbps.
    adj: i64,
    /// The last repricing's market, when still exact (see `MarketCache`).
    cached: Option<&'a MarketCache>,
    /// The usable books, filled only when needed (512 bytes: not written on the cached path).
    store: Option<[(&'a L2Book, Conversion); MAX_MEMBERS]>,
    /// Books in `store`.
    n: usize,
    /// Sweep notionals of the requested base size answered by the cached levels, per side.
    pre: [Option<Option<i128>>; 2],
    mid: i64,
}

impl<'a> Pricer<'a> {
    /// The pricing inputs of `req` (its market still to be loaded by [`Pricer::open`]).
    #[inline]
    fn new(core: &'a Core, req: &Req, adj: i64) -> Pricer<'a> {
        let rfq = &core.rfq;
        Pricer {
            core,
            c: &core.composites[req.ci],
            st: &rfq.inst[req.ci],
            tier: rfq.tier_of(req.k),
            amount: req.amount,
            adj,
            cached: core.cached_market(req.ci),
            store: None,
            n: 0,
            pre: [None; 2],
            mid: 0,
        }
    }

    /// Loads the market of `req`'s composite for the `active` sides: `Err(reason)` without a
    /// usable, uncrossed two-sided market.
    #[inline]
    fn open(&mut self, req: &Req, active: &[bool; 2]) -> Result<(), i64> {
        let (bb, ba) = self.load_books(req, active)?;
        if is_crossed(bb, ba, self.c.spec.cross_tolerance_cbps) {
            return Err(rfq_reject::CROSSED_MARKET);
        }
        let (Some(bb), Some(ba)) = (bb, ba) else { return Err(rfq_reject::NO_MARKET) };
        self.mid = (bb + ba).div_euclid(2);
        if self.mid <= 0 {
            return Err(rfq_reject::NO_MARKET);
        }
        Ok(())
    }

    /// Takes the books a sweep may need (none when the cached levels answer every requested
    /// size) and returns the best bid and ask.
    #[inline]
    fn load_books(&mut self, req: &Req, active: &[bool; 2]) -> Result<(Option<i64>, Option<i64>), i64> {
        let (core, c) = (self.core, self.c);
        let blank = (&core.instruments[0].book, c.members[0].conv);
        match self.cached {
            Some(m) => {
                let mut deep = req.in_quote;
                for s in 0..2 {
                    if active[s] && !req.in_quote {
                        self.pre[s] = m.prefix[side_of(s) as usize].notional(req.amount);
                        deep |= self.pre[s].is_none();
                    }
                }
                // the books only when a sweep goes beyond the cached levels (the usable set is
                // the cached one)
                if deep {
                    self.n = core.books_in(c, m.mask, self.store.insert([blank; MAX_MEMBERS]));
                }
                Ok(m.best)
            }
            None => {
                let buf = self.store.insert([blank; MAX_MEMBERS]);
                let n = core.books_of(c, buf);
                if n == 0 {
                    return Err(match core.no_market_reason(c) {
                        withdraw::STALE => rfq_reject::STALE_MARKET,
                        withdraw::CROSSED => rfq_reject::CROSSED_MARKET,
                        _ => rfq_reject::NO_MARKET,
                    });
                }
                self.n = n;
                Ok(best_of(&buf[..n]))
            }
        }
    }

    /// The price of `q` on client side `s`: the sweep notional (cached levels, else the
    /// books) with the spreads of the size, tier, volatility, position and adjustment.
    #[inline]
    fn price_at(&self, s: usize, q: i64) -> Option<i64> {
        let side = side_of(s);
        let cached_nt = if q == self.amount && self.pre[s].is_some() { self.pre[s] } else { self.cached.and_then(|m| m.prefix[side as usize].notional(q)) };
        let nt = match cached_nt {
            Some(nt) => nt?,
            None => self.sweep(side, q)?,
        };
        let (c, st) = (self.c, self.st);
        let (sa, sb) = v2_spreads(&c.spec.pricing, c.spec.qty_decimals, q, self.tier.markup_cbps, st.vol_m, &st.pricing, st.desk.qty, self.adj);
        Some(if s == 0 { ask_price(nt, q, sa) } else { bid_price(nt, q, sb) })
    }

    /// The notional of sweeping `q` from the books.
    #[inline]
    fn sweep(&self, side: Side, q: i64) -> Option<i128> {
        let mut nt = [None];
        if let Some(buf) = &self.store {
            sweep_ladder(&buf[..self.n], side, &[q], &mut nt);
        } else {
            // (not reached: the books are taken above whenever a sweep may be needed)
            let mut own = [(&self.core.instruments[0].book, self.c.members[0].conv); MAX_MEMBERS];
            let m = self.core.books_of(self.c, &mut own);
            sweep_ladder(&own[..m], side, &[q], &mut nt);
        }
        nt[0]
    }
}

impl Core {
    /// Pricing and every risk check of a request (at RFQ time, or again at approval time with
    /// the operator's adjustment / override and without the throttle and threshold).
    pub(super) fn evaluate(&self, req: &Req, adj: i64, override_px: i64, at_rfq: bool) -> Result<Eval, i64> {
        let st = &self.rfq.inst[req.ci];
        let risk = st.risk.as_ref().ok_or(rfq_reject::RESTRICTED)?;
        let mut sides = Sides::of(req.side);
        self.kill_switch_sides(req, &mut sides)?;
        self.request_limits(req, risk, at_rfq)?;
        // built in place and loaded through `&mut` (not returned in a `Result`: the book store
        // is hundreds of bytes)
        let mut pricer = Pricer::new(self, req, adj);
        pricer.open(req, &sides.active)?;
        let mut quoted = [(0_i64, 0_i64); 2];
        for s in 0..2 {
            if !sides.active[s] {
                continue;
            }
            match self.price_side(&pricer, req, s, override_px, risk) {
                Ok(pq) => quoted[s] = pq,
                Err(e) => sides.drop_side(s, e),
            }
        }
        sides.any_left()?;
        if sides.active[0] && sides.active[1] && quoted[1].0 >= quoted[0].0 {
            return Err(rfq_reject::CROSSED_MARKET);
        }
        let needs_approval = at_rfq && needs_approval(risk, st, &sides.active, &quoted, pricer.mid);
        Ok(Eval { sides: quoted, needs_approval })
    }

    /// Under a kill switch only risk-reducing sides survive (by direction alone for
    /// quote-currency sizes; exactly once their size is known, in [`Core::price_side`]).
    #[inline]
    fn kill_switch_sides(&self, req: &Req, sides: &mut Sides) -> Result<(), i64> {
        if !self.rfq.killed(req.k, req.ci) {
            return Ok(());
        }
        let pos = self.rfq.inst[req.ci].desk.qty;
        for s in 0..2 {
            if sides.active[s] {
                let ok = if req.in_quote { desk_delta(s as u8, 1).signum() == -pos.signum() } else { reduces(pos, desk_delta(s as u8, req.amount)) };
                if !ok {
                    sides.drop_side(s, rfq_reject::KILL_SWITCH);
                }
            }
        }
        sides.any_left()
    }

    /// The checks of the request as a whole: halts, hedging, the RFQ throttle (at RFQ time),
    /// open quotes, and the size limits of a base-unit size.
    #[inline]
    fn request_limits(&self, req: &Req, risk: &InstrumentRisk, at_rfq: bool) -> Result<(), i64> {
        let client = &self.rfq.clients[req.k];
        if client.halted || self.rfq.inst[req.ci].halted {
            return Err(rfq_reject::HALTED);
        }
        if !self.hedge_ok(req.ci) {
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
        Ok(())
    }

    /// Side `s` priced (or at the operator's `override_px`) and checked: `(price, qty)`.
    #[inline]
    fn price_side(&self, pricer: &Pricer<'_>, req: &Req, s: usize, override_px: i64, risk: &InstrumentRisk) -> Result<(i64, i64), i64> {
        let mid128 = i128::from(pricer.mid);
        let q = if req.in_quote { quote_amount_qty(pricer, req.amount, s, override_px, risk)? } else { req.amount };
        if i128::from(q) * mid128 > i128::from(risk.max_notional) * pricer.st.cent {
            return Err(rfq_reject::ABOVE_MAX_NOTIONAL);
        }
        let p = if override_px > 0 { override_px } else { pricer.price_at(s, q).ok_or(rfq_reject::NO_MARKET)? };
        if i128::from(p) * i128::from(q) > i128::from(i64::MAX) {
            return Err(rfq_reject::ABOVE_MAX_NOTIONAL);
        }
        if (i128::from(p) - mid128).abs() * PPM > i128::from(risk.collar_cbps) * mid128 {
            return Err(rfq_reject::PRICE_COLLAR);
        }
        if req.limit > 0 && ((s == 0 && p > req.limit) || (s == 1 && p < req.limit)) {
            return Err(rfq_reject::EXCEEDS_LIMIT);
        }
        self.side_risk(req, s, p, q)?;
        Ok((p, q))
    }

    /// The desk and client limits of trading side `s` of `q` at `p`.
    #[inline]
    fn side_risk(&self, req: &Req, s: usize, p: i64, q: i64) -> Result<(), i64> {
        let rfq = &self.rfq;
        let dq = desk_delta(s as u8, q);
        if req.in_quote && rfq.killed(req.k, req.ci) && !reduces(rfq.inst[req.ci].desk.qty, dq) {
            return Err(rfq_reject::KILL_SWITCH);
        }
        if !rfq.position_ok(req.ci, dq) {
            return Err(rfq_reject::POSITION_LIMIT);
        }
        if !rfq.credit_ok(req.k, req.ci, -dq, p) {
            return Err(rfq_reject::INSUFFICIENT_CREDIT);
        }
        Ok(())
    }
}

/// The base size of a quote-currency `amount` on side `s`: converted at the mid, then at the
/// price of that size (or the override), each within the size limits (which also bound how
/// far a sweep goes).
#[inline]
fn quote_amount_qty(pricer: &Pricer<'_>, amount: i64, s: usize, override_px: i64, risk: &InstrumentRisk) -> Result<i64, i64> {
    let a = i128::from(amount) * pricer.st.unit;
    let q0 = i64::try_from(a / i128::from(pricer.mid)).map_err(|_| rfq_reject::ABOVE_MAX_SIZE)?;
    if q0 < risk.min_qty {
        return Err(rfq_reject::BELOW_MIN_SIZE);
    }
    // never sweep further than the largest size allowed (bounds the work)
    if q0 > risk.max_qty {
        return Err(rfq_reject::ABOVE_MAX_SIZE);
    }
    let p0 = if override_px > 0 { override_px } else { pricer.price_at(s, q0).ok_or(rfq_reject::NO_MARKET)? };
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
    Ok(q1)
}

/// A quoted side above the composite's approval quantity or notional: the RFQ waits for an
/// operator.
#[inline]
fn needs_approval(risk: &InstrumentRisk, st: &InstRfq, active: &[bool; 2], quoted: &[(i64, i64); 2], mid: i64) -> bool {
    (0..2).any(|s| {
        active[s]
            && ((risk.approval_qty > 0 && quoted[s].1 > risk.approval_qty)
                || (risk.approval_notional > 0 && i128::from(quoted[s].1) * i128::from(mid) > i128::from(risk.approval_notional) * st.cent))
    })
}
