//! The smart order router's walk: venues that are up with usable books and the internal
//! book's desk orders, best effective price (taker fee included) first, with per-venue caps.

use super::*;

/// How one routing splits its need: member units per venue, each at its worst level price,
/// and composite units crossed in the internal book; with the market its orders are checked
/// against.
pub(super) struct RoutePlan {
    /// Venues considered (`≤ MAX_MEMBERS`).
    pub(super) n: usize,
    pub(super) alloc: [i64; MAX_MEMBERS],
    pub(super) worst: [i64; MAX_MEMBERS],
    pub(super) int_alloc: i64,
    pub(super) int_worst: i64,
    /// Some venue was up with a usable book.
    pub(super) any_up: bool,
    /// A venue's limits (max order, max position, max notional) stopped it.
    pub(super) capped: bool,
    /// The composite's mid and collar, for the collar check of each order.
    pub(super) mid: Option<i64>,
    pub(super) collar: Option<i64>,
}

/// The router's walk: the ladders of the venues that are up and usable and the desk orders of
/// the internal book, taken best effective price first.
pub(super) struct Router<'a> {
    s: &'a HedgeState,
    buy: bool,
    slip: i128,
    /// The instrument's max notional of one hedge order (exact notional scale).
    max_n: Option<i128>,
    iters: [Option<rfq_book::Levels<'a>>; MAX_MEMBERS],
    heads: [Option<(i64, i64)>; MAX_MEMBERS],
    /// Member units still allowed per venue.
    cap: [i64; MAX_MEMBERS],
    int_iter: Option<rfq_match::Orders<'a>>,
    int_head: Option<rfq_match::RestingOrder>,
    int_orders: usize,
    plan: RoutePlan,
}

impl<'a> Router<'a> {
    /// Opens the ladders of the venues of `hi` that are up, usable and within their limits,
    /// and the internal book's other side.
    pub(super) fn open<V: HedgeInputs>(h: &'a Hedging, cx: &'a V, hi: usize, need: i64) -> Router<'a> {
        let s = &h.states[hi];
        let ci = s.ci;
        let buy = need > 0;
        let side = if buy { Side::Ask } else { Side::Bid };
        let n = s.venues.len().min(MAX_MEMBERS);
        let limits = cx.limits(ci);
        let mut r = Router {
            s,
            buy,
            slip: i128::from(s.spec.max_slippage_cbps),
            max_n: limits.max_notional,
            iters: Default::default(),
            heads: [None; MAX_MEMBERS],
            cap: [0; MAX_MEMBERS],
            int_iter: None,
            int_head: None,
            int_orders: 0,
            plan: RoutePlan {
                n,
                alloc: [0; MAX_MEMBERS],
                worst: [0; MAX_MEMBERS],
                int_alloc: 0,
                int_worst: 0,
                any_up: false,
                capped: false,
                mid: cx.mid(ci),
                collar: limits.collar_cbps,
            },
        };
        for (vi, v) in s.venues.iter().enumerate().take(n) {
            if !(v.up && cx.usable(ci, v.member)) {
                continue;
            }
            r.plan.any_up = true;
            let mut lim = v.max_order;
            if v.spec.max_position > 0 {
                let room = if buy { v.spec.max_position - v.position - v.working.max(0) } else { v.spec.max_position + v.position + v.working.min(0) };
                lim = lim.min(room.max(0));
            }
            r.cap[vi] = lim - lim % v.lot;
            if r.cap[vi] <= 0 {
                r.plan.capped = true;
                continue;
            }
            let mut it = cx.book(v.inst).ladder(side).iter();
            r.heads[vi] = it.next();
            r.iters[vi] = Some(it);
        }
        // the internal crossing book: desk orders on the other side, in priority order
        r.int_iter = s.internal.as_ref().map(|i| i.book.orders(side));
        r.int_head = r.int_iter.as_mut().and_then(Iterator::next);
        r
    }

    /// Splits `|need|` (composite units) level by level, best effective price first.
    pub(super) fn split(mut self, need: i64) -> RoutePlan {
        let mut left = need.abs();
        while left > 0 {
            let best = self.best_venue();
            if self.internal_first(best) {
                left -= self.take_internal(left);
                continue;
            }
            let Some((vi, _)) = best else { break };
            left -= self.take_venue(vi, left);
        }
        self.plan
    }

    /// The effective price of level price `p` at venue `vi`: composite scale, taker fee
    /// included.
    #[inline]
    pub(super) fn effective(&self, vi: usize, p: i64) -> i128 {
        let f = i128::from(self.s.venues[vi].spec.taker_cbps);
        let cp = i128::from(self.s.venues[vi].conv.convert(p, 0).0);
        if self.buy {
            cp * (PPM + f)
        } else {
            cp * (PPM - f)
        }
    }

    /// The venue whose head level has the best effective price, with that price.
    pub(super) fn best_venue(&self) -> Option<(usize, i128)> {
        let mut best: Option<(usize, i128)> = None;
        for vi in 0..self.plan.n {
            let Some((p, _)) = self.heads[vi] else { continue };
            let e = self.effective(vi, p);
            let better = match best {
                None => true,
                Some((_, b)) => (self.buy && e < b) || (!self.buy && e > b),
            };
            if better {
                best = Some((vi, e));
            }
        }
        best
    }

    /// The next desk order goes before the best venue: fee 0, and preferred at an equal
    /// effective price.
    pub(super) fn internal_first(&self, best: Option<(usize, i128)>) -> bool {
        let Some(o) = self.int_head else { return false };
        let e = i128::from(o.price) * PPM;
        match best {
            None => true,
            Some((_, b)) => (self.buy && e <= b) || (!self.buy && e >= b),
        }
    }

    /// Takes the next desk order (at most `left`, at most [`MAX_INTERNAL_FILLS`] orders);
    /// returns the composite units taken.
    pub(super) fn take_internal(&mut self, left: i64) -> i64 {
        let o = self.int_head.expect("a desk order is next");
        let take = o.qty.min(left);
        self.plan.int_alloc += take;
        self.plan.int_worst = o.price;
        self.int_orders += 1;
        self.int_head = if self.int_orders < MAX_INTERNAL_FILLS { self.int_iter.as_mut().and_then(Iterator::next) } else { None };
        take
    }

    /// Takes from the head level of venue `vi` what its lot, limits, the max notional and
    /// `left` allow, then moves to its next level or stops the venue; returns the composite
    /// units taken.
    pub(super) fn take_venue(&mut self, vi: usize, left: i64) -> i64 {
        let s = self.s;
        let v = &s.venues[vi];
        let (p, q) = self.heads[vi].expect("best has a head");
        let want = left / v.qty_mult; // member units
        let alloc = self.plan.alloc[vi];
        let mut take = q.min(want).min(self.cap[vi] - alloc);
        let unit_n = i128::from(v.conv.convert(p, 0).0) * (PPM + self.slip) / PPM * i128::from(v.qty_mult);
        if let Some(mn) = self.max_n {
            // this level is the worst so far: the whole order is valued at it
            let room = i64::try_from(mn / unit_n.max(1)).unwrap_or(i64::MAX) - alloc;
            if take > room {
                take = room;
                self.cap[vi] = alloc + room - room % v.lot; // this venue is done for this routing
            }
        }
        take -= take % v.lot;
        let mut taken = 0;
        if take > 0 {
            self.plan.alloc[vi] += take;
            self.plan.worst[vi] = p;
            taken = take * v.qty_mult;
        }
        if take < q.min(want) || self.plan.alloc[vi] >= self.cap[vi] {
            // lot, cap or the remaining need stops this venue
            self.plan.capped |= self.plan.alloc[vi] >= self.cap[vi];
            self.heads[vi] = None;
        } else {
            self.heads[vi] = self.iters[vi].as_mut().and_then(Iterator::next);
        }
        taken
    }
}

/// The limit price of a hedge order whose worst level price is `worst`: plus (buy) or minus
/// (sell) the slippage tolerance `slip` (cbps), rounded to the tick against the desk.
#[inline]
pub(super) fn hedge_limit(worst: i64, tick: i64, slip: i128, buy: bool) -> i64 {
    let w = i128::from(worst);
    if buy {
        let x = (w * (PPM + slip) / PPM) as i64;
        x - x.rem_euclid(tick)
    } else {
        let x = rfq_model::fixed::div_ceil_i128(w * (PPM - slip), PPM) as i64;
        x + (tick - x.rem_euclid(tick)) % tick
    }
}
