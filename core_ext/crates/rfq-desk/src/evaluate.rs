//! Pricing and every risk check of a request, at RFQ time or again at approval time: the
//! kill-switch filter of the sides, the request's limits, the market it is priced from, then
//! each side priced and checked, and whether it needs an operator's approval.

use crate::{desk_delta, reduces, Req};
use crate::state::InstRfq;
use crate::Desk;
use rfq_kernel::pricing::{ask_price, bid_price, v2_spreads, PPM};
use rfq_kernel::views::{CompositeDepth, DeskInputs};
use rfq_model::{InstrumentRisk, TierSpec};
use rfq_ring::record::rfq_reject;

/// Priced sides `[ask (client side 0), bid (client side 1)]` as `(price, qty)`, qty 0 = absent.
pub(super) struct Eval {
    pub(super) sides: [(i64, i64); 2],
    pub(super) needs_approval: bool,
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

/// What a request is priced from: the composite's market (a [`CompositeDepth`] the engine's
/// view opens) and the pricing inputs of the client and composite.
struct Pricer<'a, D: CompositeDepth> {
    depth: &'a D,
    st: &'a InstRfq,
    tier: &'a TierSpec,
    /// The operator's spread adjustment (approval), cbps.
    adj: i64,
}

impl<'a, D: CompositeDepth> Pricer<'a, D> {
    /// The price of `q` on client side `s`: the sweep notional with the spreads of the size,
    /// tier, volatility, position and adjustment.
    #[inline]
    fn price_at(&self, s: usize, q: i64) -> Option<i64> {
        let nt = self.depth.notional(s, q)?;
        let st = self.st;
        let (pricing, qty_decimals) = self.depth.pricing();
        let (sa, sb) = v2_spreads(pricing, qty_decimals, q, self.tier.markup_cbps, st.vol_m, &st.pricing, st.desk.qty, self.adj);
        Some(if s == 0 { ask_price(nt, q, sa) } else { bid_price(nt, q, sb) })
    }

    #[inline]
    fn mid(&self) -> i64 {
        self.depth.mid()
    }
}

impl Desk {
    /// Pricing and every risk check of a request (at RFQ time, or again at approval time with
    /// the operator's adjustment / override and without the throttle and threshold).
    pub(super) fn evaluate(&self, m: &impl DeskInputs, req: &Req, adj: i64, override_px: i64, at_rfq: bool) -> Result<Eval, i64> {
        let st = &self.rfq.inst[req.ci];
        let risk = st.risk.as_ref().ok_or(rfq_reject::RESTRICTED)?;
        let mut sides = Sides::of(req.side);
        self.kill_switch_sides(req, &mut sides)?;
        self.request_limits(m, req, risk, at_rfq)?;
        // built in place and opened through `&mut` (not returned in a `Result` nor moved: the
        // book store is hundreds of bytes)
        let mut depth = m.depth(req.ci, req.amount);
        depth.open(req.in_quote, &sides.active)?;
        let pricer = Pricer { depth: &depth, st, tier: self.rfq.tier_of(req.k), adj };
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
        let needs_approval = at_rfq && needs_approval(risk, st, &sides.active, &quoted, pricer.mid());
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
    fn request_limits(&self, m: &impl DeskInputs, req: &Req, risk: &InstrumentRisk, at_rfq: bool) -> Result<(), i64> {
        let client = &self.rfq.clients[req.k];
        if client.halted || self.rfq.inst[req.ci].halted {
            return Err(rfq_reject::HALTED);
        }
        if !m.hedge_ok(req.ci) {
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
    fn price_side<D: CompositeDepth>(&self, pricer: &Pricer<'_, D>, req: &Req, s: usize, override_px: i64, risk: &InstrumentRisk) -> Result<(i64, i64), i64> {
        let mid128 = i128::from(pricer.mid());
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
fn quote_amount_qty<D: CompositeDepth>(pricer: &Pricer<'_, D>, amount: i64, s: usize, override_px: i64, risk: &InstrumentRisk) -> Result<i64, i64> {
    let a = i128::from(amount) * pricer.st.unit;
    let q0 = i64::try_from(a / i128::from(pricer.mid())).map_err(|_| rfq_reject::ABOVE_MAX_SIZE)?;
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
