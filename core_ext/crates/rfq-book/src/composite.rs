//! Sweeping several venue books as one composite book.
//!
//! Members can have different price and quantity scales and different contract types. Each
//! member's levels are converted exactly into the composite's scales while sweeping:
//! prices are multiplied up by a power of ten; linear quantities likewise; inverse contracts
//! (COIN-M) become base quantity `contracts × contract_size / price`, **rounded down** so the
//! composite never claims more depth than there is. A per-member `offset` (the basis to the
//! composite's reference member) is added to converted prices.

use crate::book::L2Book;
use crate::ladder::{Ladder, Levels};
use rfq_model::fixed::pow10;
use rfq_model::{Instrument, InstrumentKind, Side};

/// Most members a composite may have.
pub const MAX_MEMBERS: usize = 8;

/// How one member's levels convert into composite units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    /// Composite price = member price × `px_mult` + `offset`.
    pub px_mult: i64,
    /// Basis adjustment added to every converted price (composite price units).
    pub offset: i64,
    /// Quantity conversion.
    pub qty: QtyConversion,
}

/// Quantity conversion of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QtyConversion {
    /// Composite qty = member qty × mult.
    Linear(i64),
    /// Composite qty = floor(contracts × num / member price).
    Inverse(i128),
}

impl Conversion {
    /// Conversion of `inst` into a composite with the given scales; `None` if the member's
    /// scales are finer than the composite's.
    pub fn new(inst: &Instrument, price_decimals: u32, qty_decimals: u32) -> Option<Conversion> {
        if inst.price_decimals > price_decimals {
            return None;
        }
        let px_mult = pow10(price_decimals - inst.price_decimals);
        let qty = match inst.kind {
            InstrumentKind::Spot | InstrumentKind::Linear => {
                if inst.qty_decimals > qty_decimals {
                    return None;
                }
                QtyConversion::Linear(pow10(qty_decimals - inst.qty_decimals))
            }
            InstrumentKind::Inverse => {
                // contracts × cs [quote] / (px / 10^Pi) [quote/base] = base; in 10^-Qc units:
                // contracts × cs × 10^(Pi+Qc) / px, with contracts in 10^-Qi units.
                let num = i128::from(inst.contract_size) * 10_i128.pow(inst.price_decimals + qty_decimals)
                    / 10_i128.pow(inst.qty_decimals);
                QtyConversion::Inverse(num)
            }
        };
        Some(Conversion { px_mult, offset: 0, qty })
    }

    /// Convert one member level into composite `(price, qty)`.
    #[inline]
    pub fn convert(&self, price: i64, qty: i64) -> (i64, i64) {
        let q = match self.qty {
            QtyConversion::Linear(m) => qty * m,
            QtyConversion::Inverse(num) => inverse_units(qty, num, price),
        };
        (price * self.px_mult + self.offset, q)
    }
}

/// Base units of `qty` inverse contracts at `price`: `floor(qty × num / price)` (64-bit when the
/// product fits). The one definition the composite's conversion and a ladder's converted
/// aggregates ([`crate::Ladder::set_inverse`]) share, so both give the same integers.
#[inline]
pub(crate) fn inverse_units(qty: i64, num: i128, price: i64) -> i64 {
    match i64::try_from(num).ok().and_then(|n| qty.checked_mul(n)) {
        Some(x) => x / price,
        None => (i128::from(qty) * num / i128::from(price)) as i64,
    }
}

/// Walk the merged levels of `books` on `side` from the best outwards, in composite units,
/// calling `f(price, qty)` until it returns `false`. Ties in price go to the earlier member.
///
/// Each member's next level is converted once and kept as its head; a step compares the heads
/// (k ≤ 8) and advances only the member it took from.
#[inline]
pub fn walk(books: &[(&L2Book, Conversion)], side: Side, mut f: impl FnMut(i64, i64) -> bool) {
    debug_assert!(books.len() <= MAX_MEMBERS);
    let n = books.len().min(MAX_MEMBERS);
    let mut iters: [Option<Levels<'_>>; MAX_MEMBERS] = Default::default();
    let mut heads: [Option<(i64, i64)>; MAX_MEMBERS] = [None; MAX_MEMBERS];
    for m in 0..n {
        let (b, conv) = &books[m];
        let mut it = b.ladder(side).iter();
        heads[m] = it.next().map(|(p, q)| conv.convert(p, q));
        iters[m] = Some(it);
    }
    loop {
        let mut best: Option<(usize, i64, i64)> = None;
        for (m, h) in heads.iter().enumerate().take(n) {
            let Some((cp, cq)) = *h else { continue };
            let better = match best {
                None => true,
                Some((_, bp, _)) => match side {
                    Side::Bid => cp > bp,
                    Side::Ask => cp < bp,
                },
            };
            if better {
                best = Some((m, cp, cq));
            }
        }
        let Some((m, p, q)) = best else { return };
        let conv = books[m].1;
        heads[m] = iters[m].as_mut().and_then(Iterator::next).map(|(p, q)| conv.convert(p, q));
        if q > 0 && !f(p, q) {
            return;
        }
    }
}

/// Merged levels a [`SweepPrefix`] keeps per side.
pub const PREFIX_LEVELS: usize = 64;

/// The first merged levels of one side as a sweep visited them, with running totals, so a
/// later sweep of any size they cover is a binary search instead of a k-way merge with
/// conversions. Exact: `notional(q)` is what [`sweep_ladder`] would return for `[q]` over the
/// same books.
#[derive(Debug, Clone)]
pub struct SweepPrefix {
    len: usize,
    /// Every level of the merged side is recorded (a larger size is too thin).
    complete: bool,
    /// Composite price of level `i`.
    px: [i64; PREFIX_LEVELS],
    /// Quantity of levels `0..=i`.
    cum_q: [i64; PREFIX_LEVELS],
    /// Notional of levels `0..=i`.
    cum_n: [i128; PREFIX_LEVELS],
}

impl Default for SweepPrefix {
    fn default() -> Self {
        SweepPrefix { len: 0, complete: false, px: [0; PREFIX_LEVELS], cum_q: [0; PREFIX_LEVELS], cum_n: [0; PREFIX_LEVELS] }
    }
}

impl SweepPrefix {
    /// Forget every level (covers nothing).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
        self.complete = false;
    }

    /// Levels recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every level recorded has been recorded, so a larger size is too thin.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Recorded level `i`: `(composite price, cumulative qty, cumulative notional)`.
    pub fn level(&self, i: usize) -> (i64, i64, i128) {
        (self.px[i], self.cum_q[i], self.cum_n[i])
    }

    /// Rebuilds a prefix from its levels (as [`SweepPrefix::level`] gives them) — for
    /// snapshots. `Err` (prefix unchanged) when more than [`PREFIX_LEVELS`] or cumulative
    /// quantities not increasing.
    pub fn load(&mut self, complete: bool, levels: &[(i64, i64, i128)]) -> Result<(), String> {
        if levels.len() > PREFIX_LEVELS {
            return Err(format!("{} prefix levels, at most {PREFIX_LEVELS}", levels.len()));
        }
        if levels.windows(2).any(|w| w[1].1 <= w[0].1) {
            return Err("prefix quantities not increasing".into());
        }
        for (i, &(p, q, n)) in levels.iter().enumerate() {
            self.px[i] = p;
            self.cum_q[i] = q;
            self.cum_n[i] = n;
        }
        self.len = levels.len();
        self.complete = complete;
        Ok(())
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Record the next merged level at price `p`, with the running totals after it; `false`
    /// once full (or if the quantity total did not grow: an overflow).
    #[inline]
    fn push(&mut self, p: i64, cum_q: i64, cum_n: i128) -> bool {
        let i = self.len;
        if i >= PREFIX_LEVELS || (i > 0 && cum_q <= self.cum_q[i - 1]) {
            return false;
        }
        self.px[i] = p;
        self.cum_q[i] = cum_q;
        self.cum_n[i] = cum_n;
        self.len = i + 1;
        true
    }

    /// Sweep notional of `q` from the recorded levels: `Some(Some(n))`, `Some(None)` when the
    /// whole side is recorded and holds less than `q`, or `None` when the prefix does not
    /// reach `q` (or `q ≤ 0`): sweep the books.
    #[inline]
    pub fn notional(&self, q: i64) -> Option<Option<i128>> {
        if q <= 0 {
            return None;
        }
        let cum = &self.cum_q[..self.len];
        let i = cum.partition_point(|&c| c < q);
        if i < self.len {
            let (q0, n0) = if i == 0 { (0, 0) } else { (cum[i - 1], self.cum_n[i - 1]) };
            Some(Some(n0 + i128::from(self.px[i]) * i128::from(q - q0)))
        } else if self.complete {
            Some(None)
        } else {
            None
        }
    }
}

/// Sweep `side` for every size of an increasing ladder in one pass. `out[i]` receives the
/// exact notional (composite price × qty units) to take `sizes[i]`, or `None` if too thin.
pub fn sweep_ladder(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64], out: &mut [Option<i128>]) {
    sweep_impl(books, side, sizes, out, None);
}

/// [`sweep_ladder`] that also records the levels it visits (up to [`PREFIX_LEVELS`]) in
/// `prefix`, for later sweeps of other sizes on the same books.
pub fn sweep_ladder_recording(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64], out: &mut [Option<i128>], prefix: &mut SweepPrefix) {
    prefix.clear();
    sweep_impl(books, side, sizes, out, Some(prefix));
}

#[inline]
fn sweep_impl(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64], out: &mut [Option<i128>], mut prefix: Option<&mut SweepPrefix>) {
    debug_assert!(out.len() >= sizes.len());
    for o in out.iter_mut().take(sizes.len()) {
        *o = None;
    }
    let mut next = 0;
    let mut filled: i64 = 0;
    let mut notional: i128 = 0;
    if sizes.is_empty() {
        return;
    }
    let mut recording = prefix.is_some();
    walk(books, side, |p, q| {
        while next < sizes.len() {
            let need = sizes[next] - filled;
            if q >= need {
                out[next] = Some(notional + i128::from(p) * i128::from(need));
                next += 1;
            } else {
                break;
            }
        }
        filled += q;
        notional += i128::from(p) * i128::from(q);
        if recording {
            if let Some(pf) = prefix.as_deref_mut() {
                recording = pf.push(p, filled, notional);
            }
        }
        next < sizes.len()
    });
    if let Some(pf) = prefix {
        // the walk ran out of levels before the ladder was filled: every level is recorded
        // unless the prefix filled up
        pf.complete = recording && next < sizes.len();
    }
}

/// Whether [`sweep_search`] can sweep these books: every member linear, or inverse with both of
/// its ladders aggregating the same numerator (see [`crate::Ladder::set_inverse`]).
#[inline]
pub fn searchable(books: &[(&L2Book, Conversion)]) -> bool {
    books.iter().all(|(b, conv)| match conv.qty {
        QtyConversion::Linear(_) => conv.px_mult > 0,
        QtyConversion::Inverse(num) => conv.px_mult > 0 && b.bids.inverse_num() == Some(num) && b.asks.inverse_num() == Some(num),
    })
}

/// `ceil(x / d)` for `d > 0`.
#[inline]
fn ceil_div(x: i64, d: i64) -> i64 {
    -((-x).div_euclid(d))
}

/// Tick-index bound of the member levels whose composite price is `cp` or better: those at
/// index `≥ bound` (`None`: no level can be). Asks: member price `p × px_mult + offset ≤ cp`;
/// bids: `≥ cp`.
#[inline]
fn member_bound(l: &Ladder, conv: &Conversion, side: Side, cp: i64) -> Option<i64> {
    let t = l.tick();
    let x = cp.checked_sub(conv.offset)?;
    // (the shipped members have tick 1 and px_mult 1 or 10: skip the divisions by one)
    let floor = |x: i64, d: i64| if d == 1 { x } else { x.div_euclid(d) };
    let ceil = |x: i64, d: i64| if d == 1 { x } else { ceil_div(x, d) };
    match side {
        Side::Ask => {
            let pmax = floor(x, conv.px_mult);
            (pmax >= t).then(|| -floor(pmax, t))
        }
        Side::Bid => Some(ceil(ceil(x, conv.px_mult).max(1), t)),
    }
}

/// Converted quantity of member levels at composite price `cp` or better.
#[inline]
fn member_qty(l: &Ladder, conv: &Conversion, side: Side, cp: i64) -> i64 {
    let Some(b) = member_bound(l, conv, side, cp) else { return 0 };
    match conv.qty {
        QtyConversion::Linear(m) => l.qty_from(b) * m,
        QtyConversion::Inverse(_) => l.inverse_qty_from(b),
    }
}

/// Converted quantity and notional (composite price × qty units) of member levels at
/// composite price `cp` or better — exactly Σ `convert(level)` price × qty over them.
#[inline]
fn member_depth(l: &Ladder, conv: &Conversion, side: Side, cp: i64) -> (i64, i128) {
    let Some(b) = member_bound(l, conv, side, cp) else { return (0, 0) };
    // price = tick × index on bids, −tick × index on asks
    let sign: i128 = if side == Side::Bid { 1 } else { -1 };
    let (q, iq, mult) = match conv.qty {
        QtyConversion::Linear(m) => {
            let (q, iq) = l.depth_from(b);
            (q, iq, m)
        }
        QtyConversion::Inverse(_) => {
            let (c, ic) = l.inverse_depth_from(b);
            (c, ic, 1)
        }
    };
    let px_q = sign * i128::from(l.tick()) * iq; // Σ member price × qty
    let n = i128::from(mult) * (i128::from(conv.px_mult) * px_q + i128::from(conv.offset) * i128::from(q));
    (q * mult, n)
}

/// `ceil(x × y / d)` for `x, y ≥ 0`, `d > 0`, saturating; in 64 bits when the product fits (a
/// 128-bit division is a library call, the costliest step of a probe otherwise).
#[inline]
fn mul_div_ceil(x: i64, y: i64, d: i64) -> i64 {
    match x.checked_mul(y) {
        Some(p) => p / d + i64::from(p % d != 0),
        None => i64::try_from((i128::from(x) * i128::from(y) + i128::from(d) - 1) / i128::from(d)).unwrap_or(i64::MAX),
    }
}

/// Interpolation probes of a [`sweep_search`] size before it bisects.
const INTERPOLATED_PROBES: u32 = 4;

/// Interpolation probes of a [`sweep_between`] size before it bisects.
const BETWEEN_PROBES: u32 = 4;

/// Converted quantity of the member level at exactly composite price `cp` (0: none there) —
/// the difference of [`member_qty`] at `cp` and at the next better composite price.
#[inline]
fn member_qty_at(l: &Ladder, conv: &Conversion, cp: i64) -> i64 {
    let Some(x) = cp.checked_sub(conv.offset) else { return 0 };
    let p = match conv.px_mult {
        1 => x, // (no division for members at the composite's price scale)
        m if m > 0 && x % m == 0 => x / m,
        _ => return 0, // no member price converts to `cp`
    };
    if p <= 0 {
        return 0;
    }
    match l.qty_at(p) {
        0 => 0,
        q => conv.convert(p, q).1,
    }
}

/// The best composite price at which some member alone holds `size` (converted): the answer
/// of a sweep of `size` is at that price or better. `None` when no member alone holds it.
#[inline]
fn alone_bound(books: &[(&L2Book, Conversion)], side: Side, size: i64) -> Option<i64> {
    let mut best: Option<i64> = None;
    for (b, conv) in books {
        let l = b.ladder(side);
        let idx = match conv.qty {
            QtyConversion::Linear(m) => l.run_out_index((size + m.max(1) - 1) / m.max(1), false),
            QtyConversion::Inverse(_) => l.run_out_index(size, true),
        };
        let Some(cp) = idx.and_then(|i| l.index_price(i).checked_mul(conv.px_mult)).and_then(|p| p.checked_add(conv.offset)) else { continue };
        best = Some(match (best, side) {
            (None, _) => cp,
            (Some(x), Side::Ask) => x.min(cp),
            (Some(x), Side::Bid) => x.max(cp),
        });
    }
    best
}

/// Sweep `side` for every size of an increasing ladder by **searching** the members'
/// cumulative depth instead of walking their levels: for each size, the composite price where
/// it runs out is the least-good price whose cumulative converted depth reaches it. It is
/// looked for first at `hints[i]` (the price where that size ran out before, `i64::MIN` for
/// none): when that level is still where the size runs out — a change since moved nothing in
/// front of it by enough — one depth query per member answers. Else from there by an
/// interpolation search over the cumulative depth (stepping out at the density seen first when
/// the size now runs out further); each probe is one O(log words) depth query per member and
/// an exact check of the level it lands on. Then the notional is
/// the exact depth strictly better than that price plus the rest at that price — the same
/// integers [`sweep_ladder`] computes (held by property tests), at a cost that does not grow
/// with how many levels the size sweeps. `hints` only decide where the search starts, never
/// the result; they are updated to the prices found.
///
/// Returns `false`, leaving `out` untouched, when the books are not [`searchable`] or the
/// sizes are not positive and strictly increasing: sweep them with [`sweep_ladder`].
pub fn sweep_search(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64], out: &mut [Option<i128>], hints: &mut [i64]) -> bool {
    sweep_search_impl(books, side, sizes, out, hints, None)
}

/// [`sweep_search`] that also leaves in `runs[i]` where size `i` ran out ([`RunOut`]), for
/// every size it fills (`out[i]` is `Some`; the other entries are not written): what
/// [`sweep_between`] brackets another size with while the books stay as they are.
pub fn sweep_search_runs(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64], out: &mut [Option<i128>], hints: &mut [i64], runs: &mut [RunOut]) -> bool {
    debug_assert!(runs.len() >= sizes.len());
    sweep_search_impl(books, side, sizes, out, hints, Some(runs))
}

#[inline]
fn sweep_search_impl(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64], out: &mut [Option<i128>], hints: &mut [i64], mut runs: Option<&mut [RunOut]>) -> bool {
    debug_assert!(out.len() >= sizes.len() && hints.len() >= sizes.len());
    if !searchable(books) || sizes.first().is_some_and(|&s| s <= 0) || sizes.windows(2).any(|w| w[1] <= w[0]) {
        return false;
    }
    let (mut best, mut worst) = (None::<i64>, None::<i64>);
    for (b, conv) in books {
        let l = b.ladder(side);
        let (Some((bp, bq)), Some((wp, wq))) = (l.best(), l.worst()) else { continue };
        let (bc, _) = conv.convert(bp, bq);
        let (wc, _) = conv.convert(wp, wq);
        let better = |a: i64, b: i64| if side == Side::Ask { a < b } else { a > b };
        best = Some(best.map_or(bc, |x| if better(bc, x) { bc } else { x }));
        worst = Some(worst.map_or(wc, |x| if better(x, wc) { wc } else { x }));
    }
    let (Some(best), Some(worst)) = (best, worst) else {
        out[..sizes.len()].fill(None);
        return true;
    };
    // distances from the best price, so "further" is larger on both sides
    let price = |d: i64| if side == Side::Ask { best + d } else { best - d };
    let dist = |p: i64| if side == Side::Ask { p.saturating_sub(best) } else { best.saturating_sub(p) };
    let dmax = dist(worst);
    let qty_at = |d: i64| -> i64 { books.iter().map(|(b, conv)| member_qty(b.ladder(side), conv, side, price(d))).sum() };
    // `qty(d)`: converted depth at distance `d` or better. `lo` is a distance with
    // `qty(lo) = q_lo` below the current size (-1: nothing taken, 0)
    let (mut lo, mut q_lo) = (-1_i64, 0_i64);
    // depth strictly better than distance `d` (`d ≥ 0`), exact, with its notional
    let depth_before = |d: i64| -> (i64, i128) {
        if d == 0 {
            return (0, 0);
        }
        books.iter().fold((0_i64, 0_i128), |(q, n), (bk, conv)| {
            let (mq, mn) = member_depth(bk.ladder(side), conv, side, price(d - 1));
            (q + mq, n + mn)
        })
    };
    // converted quantity resting exactly at distance `d`: `qty(d) − qty(d − 1)`
    let qty_exactly = |d: i64| -> i64 { books.iter().map(|(bk, conv)| member_qty_at(bk.ladder(side), conv, price(d))).sum() };
    for (i, &size) in sizes.iter().enumerate() {
        let h = if hints[i] == i64::MIN { lo + 1 } else { dist(hints[i]).clamp(lo + 1, dmax) };
        // The hint first, in one depth query per member: the depth strictly better than `h`
        // and the quantity resting exactly at `h` tell whether `size` still runs out there —
        // the common case when the change since the hint was set left that rung's run-out
        // level in place (then the answer is that depth plus the rest at `h`: the same
        // integers as a walk). Else they bound the search on one side of `h`.
        let (q0h, n0h) = depth_before(h);
        let qh = qty_exactly(h);
        let (run, q0, n0, at) = if q0h < size && size <= q0h + qh {
            (h, q0h, n0h, qh)
        } else {
            // find a < b with qty(a) = qa < size ≤ qty(b) = qb
            let (mut a, mut qa, mut b, mut qb);
            // a first probe better than interpolating, when one is known
            let mut guess = None;
            if q0h >= size {
                // runs out before `h`: `qty(h − 1) ≥ size > qty(lo)`, so `lo < h − 1`
                (a, qa, b, qb) = (lo, q_lo, h - 1, q0h);
                if books.len() == 1 {
                    // one member: where it alone holds `size` is the answer (checked like any probe)
                    guess = alone_bound(books, side, size).map(dist).filter(|&u| u > a && u <= b);
                }
            } else {
                (a, qa) = (h, q0h + qh);
                // where one member alone holds `size` (one tree descent each) bounds the answer:
                // with one member it is the answer (`qty(u) ≥ size`: the first probe, checked
                // like any); with several it is usually far beyond it, so it is only the
                // fallback when the first step falls short
                let one = if books.len() == 1 { alone_bound(books, side, size).map(dist).filter(|&u| u > h) } else { None };
                if let Some(u) = one {
                    (b, qb, guess) = (u, size, Some(u));
                } else {
                    // runs out beyond `h`: step out by the depth still missing at the density
                    // seen between `lo` and `h` (a quarter more, so one step usually brackets
                    // it), doubling while short
                    let mut step = if qa > q_lo && h > lo {
                        let est = mul_div_ceil(size - qa, h - lo, qa - q_lo);
                        est.saturating_add(est / 4)
                    } else {
                        1
                    };
                    let mut alone = None;
                    let mut first = true;
                    loop {
                        if a >= dmax {
                            // too thin for this size, so for every larger one too
                            out[i..sizes.len()].fill(None);
                            return true;
                        }
                        let cand = a.saturating_add(step).min(dmax);
                        let qc = qty_at(cand);
                        if qc >= size {
                            (b, qb) = (cand, qc);
                            break;
                        }
                        (a, qa) = (cand, qc);
                        step = step.saturating_mul(2);
                        if std::mem::take(&mut first) && books.len() > 1 {
                            alone = alone_bound(books, side, size).map(dist).filter(|&u| u > a);
                        }
                        if let Some(u) = alone.filter(|&u| u > a && u < a.saturating_add(step)) {
                            // the next step would pass the bound: probe the bound itself
                            step = u - a;
                            alone = None;
                        }
                    }
                }
            }
            // Interpolation search between them, every probe checked exactly as the hint was
            // (the answer is the probe `m` where `qty(m − 1) < size ≤ qty(m)`, its notional the
            // depth before `m` the check computed plus the rest at `m`); bisection after
            // a few probes, so a skewed book costs a few probes more than bisecting. Each
            // probe shrinks `[a, b]` or ends the search; at `b − a = 1` the probe is `b`, the
            // answer.
            let mut probes = 0;
            loop {
                let m = if let Some(g) = guess.take() {
                    g
                } else if probes >= INTERPOLATED_PROBES {
                    a + (b - a + 1) / 2
                } else {
                    // the least `d` with `qa + (d − a)(qb − qa)/(b − a) ≥ size` (qb > qa)
                    a.saturating_add(mul_div_ceil(size - qa, b - a, qb - qa))
                }
                .clamp(a + 1, b);
                let (q0m, n0m) = depth_before(m);
                let qm = q0m + qty_exactly(m);
                if q0m < size && size <= qm {
                    break (m, q0m, n0m, qm - q0m);
                }
                if q0m >= size {
                    (b, qb) = (m - 1, q0m);
                } else {
                    (a, qa) = (m, qm);
                }
                probes += 1;
            }
        };
        // `run` is where `size` runs out: everything strictly better is taken whole
        debug_assert!(q0 < size);
        out[i] = Some(n0 + i128::from(price(run)) * i128::from(size - q0));
        hints[i] = price(run);
        if let Some(r) = runs.as_deref_mut() {
            r[i] = RunOut { price: price(run), q0, n0, at };
        }
        (lo, q_lo) = (run - 1, q0);
    }
    true
}

/// Where a sweep ran out over some books, as [`sweep_search_runs`] found it: the composite
/// price of the level, the converted quantity and notional strictly better than it, and the
/// converted quantity resting exactly at it. A statement about the books, not about one size:
/// while they are unchanged, every size `s` with `q0 < s ≤ q0 + at` runs out at that level
/// (notional `n0 + price × (s − q0)`), a smaller one strictly before it, a larger one beyond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOut {
    /// Composite price of the level.
    pub price: i64,
    /// Converted quantity strictly better than `price`.
    pub q0: i64,
    /// Notional (composite price × qty units) strictly better than `price`.
    pub n0: i128,
    /// Converted quantity resting exactly at `price`.
    pub at: i64,
}

/// The sweep notional of one `size` over `books` given `known` run-outs over the **same,
/// unchanged** books (from [`sweep_search_runs`]; the caller vouches for that, as for any cached
/// result): `Some(Some(n))`, or `Some(None)` when the books hold less than `size`. `None` (nothing
/// computed) when the books are not [`searchable`] or `size ≤ 0`: search or walk them instead.
///
/// Each run-out answers `size` outright when it runs out at that level, else is an exact bound
/// on one side of where it does — the two ladder rungs around an off-ladder size bracket it with
/// no query at all. The search between the bounds interpolates over the cumulative depth (a
/// quantity-only query per member and the quantity at the probed level per probe; bisection after
/// a few probes); with no bound beyond `size` (a size past every known one) it first steps out
/// from the furthest bound at the density seen before it, doubling while short. The notional is
/// one depth query at the level found: the depth strictly better plus the rest at that price —
/// the same integers as [`sweep_ladder`] (held by property tests).
pub fn sweep_between(books: &[(&L2Book, Conversion)], side: Side, size: i64, known: &[RunOut]) -> Option<Option<i128>> {
    if size <= 0 || !searchable(books) {
        return None;
    }
    let (mut best, mut worst) = (None::<i64>, None::<i64>);
    for (b, conv) in books {
        let l = b.ladder(side);
        let (Some((bp, bq)), Some((wp, wq))) = (l.best(), l.worst()) else { continue };
        let (bc, _) = conv.convert(bp, bq);
        let (wc, _) = conv.convert(wp, wq);
        let better = |a: i64, b: i64| if side == Side::Ask { a < b } else { a > b };
        best = Some(best.map_or(bc, |x| if better(bc, x) { bc } else { x }));
        worst = Some(worst.map_or(wc, |x| if better(x, wc) { wc } else { x }));
    }
    let (Some(best), Some(worst)) = (best, worst) else { return Some(None) };
    // distances from the best price, so "further" is larger on both sides
    let price = |d: i64| if side == Side::Ask { best + d } else { best - d };
    let dist = |p: i64| if side == Side::Ask { p.saturating_sub(best) } else { best.saturating_sub(p) };
    let dmax = dist(worst);
    // `qty(d)`: converted depth at distance `d` or better
    let qty_at = |d: i64| -> i64 { books.iter().map(|(b, conv)| member_qty(b.ladder(side), conv, side, price(d))).sum() };
    let qty_exactly = |d: i64| -> i64 { books.iter().map(|(bk, conv)| member_qty_at(bk.ladder(side), conv, price(d))).sum() };
    // `qty(a) = qa < size`; `upper`: `(b, qb)` with `qty(b) = qb ≥ size`
    let (mut a, mut qa) = (-1_i64, 0_i64);
    let mut upper: Option<(i64, i64)> = None;
    for r in known {
        let d = dist(r.price);
        if !(0..=dmax).contains(&d) {
            continue; // not a level of these books (a caller's stale value): no bound
        }
        if r.q0 < size && size <= r.q0.saturating_add(r.at) {
            return Some(Some(r.n0 + i128::from(r.price) * i128::from(size - r.q0)));
        }
        if size <= r.q0 {
            // runs out strictly before `d`: `qty(d − 1) = q0 ≥ size` (so `d ≥ 1`)
            if upper.is_none_or(|(b, _)| d - 1 < b) {
                upper = Some((d - 1, r.q0));
            }
        } else if d > a {
            (a, qa) = (d, r.q0 + r.at);
        }
    }
    let (mut b, mut qb) = match upper {
        Some(u) => u,
        None => {
            // beyond every bound: step out by the depth still missing at the density seen up to
            // `a` (a quarter more, so one step usually brackets it), doubling while short
            let mut step = if qa > 0 {
                let est = mul_div_ceil(size - qa, a + 1, qa);
                est.saturating_add(est / 4).max(1)
            } else {
                1
            };
            loop {
                if a >= dmax {
                    return Some(None); // every level is better than `a`: too thin
                }
                let cand = a.saturating_add(step).min(dmax);
                let qc = qty_at(cand);
                if qc >= size {
                    break (cand, qc);
                }
                (a, qa) = (cand, qc);
                step = step.saturating_mul(2);
            }
        }
    };
    // Interpolation search in `(a, b]`: the answer is the `m` with `qty(m − 1) < size ≤ qty(m)`.
    // Each probe shrinks the bracket or ends the search (`qty(m − 1)` at `m = a + 1` is `qa`, no
    // query; at `b − a = 1` the probe is `b`, the answer). Regula falsi with the Illinois rule:
    // when the same end moved twice running (the depth curves away from the chord, so plain
    // interpolation would creep towards the answer from one side), the other end's weight is
    // halved for each further move, pulling the next probe across; bisection after
    // `BETWEEN_PROBES`, so a pathological book costs a few probes more than bisecting.
    let mut probes = 0;
    // consecutive moves of `a` (> 0) or of `b` (< 0)
    let mut run_of: i32 = 0;
    let run = loop {
        let m = if probes >= BETWEEN_PROBES {
            a + (b - a + 1) / 2
        } else {
            // missing depth to `size` from `a`, surplus over it at `b` (both > 0), the end that
            // kept moving pulling harder
            let (mut wa, mut wb) = (size - qa, qb - size);
            if run_of >= 2 {
                wb = (wb >> (run_of - 1).min(62)).max(1);
            } else if run_of <= -2 {
                wa = (wa >> (-run_of - 1).min(62)).max(1);
            }
            a.saturating_add(mul_div_ceil(wa, b - a, wa.saturating_add(wb)))
        }
        .clamp(a + 1, b);
        let q0m = if m == a + 1 { qa } else { qty_at(m - 1) };
        let qm = q0m + qty_exactly(m);
        if q0m < size && size <= qm {
            break m;
        }
        if q0m >= size {
            (b, qb) = (m - 1, q0m);
            run_of = run_of.min(0) - 1;
        } else {
            (a, qa) = (m, qm);
            run_of = run_of.max(0) + 1;
        }
        probes += 1;
    };
    // everything strictly better than `run` is taken whole, the rest at `run`
    let (q0, n0) = if run == 0 {
        (0, 0)
    } else {
        books.iter().fold((0_i64, 0_i128), |(q, n), (bk, conv)| {
            let (mq, mn) = member_depth(bk.ladder(side), conv, side, price(run - 1));
            (q + mq, n + mn)
        })
    };
    debug_assert!(q0 < size);
    Some(Some(n0 + i128::from(price(run)) * i128::from(size - q0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(kind: InstrumentKind, pd: u32, qd: u32, cs: i64) -> Instrument {
        Instrument {
            id: 1,
            symbol: "X".into(),
            venue: "v".into(),
            kind,
            price_decimals: pd,
            qty_decimals: qd,
            tick: 1,
            lot: 1,
            contract_size: cs,
            book_window: rfq_model::DEFAULT_BOOK_WINDOW,
            max_qty: 1_000_000_000,
        }
    }

    #[test]
    fn converts_scales_exactly() {
        let lin = Conversion::new(&inst(InstrumentKind::Linear, 1, 3, 0), 2, 8).unwrap();
        assert_eq!(lin.convert(617_441, 1_500), (6_174_410, 150_000_000)); // 61744.1 x 1.5
        let inv = Conversion::new(&inst(InstrumentKind::Inverse, 1, 0, 100), 2, 8).unwrap();
        // 2 contracts of 100 USD at 50000.0 = 0.004 BTC exactly
        assert_eq!(inv.convert(500_000, 2), (5_000_000, 400_000));
        // 1 contract at 61817.4 = 0.0016176... BTC, floored to 161_766 sat
        assert_eq!(inv.convert(618_174, 1), (6_181_740, 161_766));
        assert!(Conversion::new(&inst(InstrumentKind::Spot, 3, 3, 0), 2, 8).is_none());
    }

    /// Naive reference: convert every level of every member, sort best first, sweep.
    fn naive(books: &[(&L2Book, Conversion)], side: Side, sizes: &[i64]) -> Vec<Option<i128>> {
        let mut all: Vec<(i64, usize, i64)> = vec![];
        for (m, (b, conv)) in books.iter().enumerate() {
            for (p, q) in b.ladder(side).iter() {
                let (cp, cq) = conv.convert(p, q);
                all.push((cp, m, cq));
            }
        }
        all.sort_by(|a, b| match side {
            Side::Bid => b.0.cmp(&a.0).then(a.1.cmp(&b.1)),
            Side::Ask => a.0.cmp(&b.0).then(a.1.cmp(&b.1)),
        });
        sizes
            .iter()
            .map(|&s| {
                let (mut left, mut n) = (s, 0_i128);
                for &(p, _, q) in &all {
                    let take = left.min(q);
                    n += i128::from(p) * i128::from(take);
                    left -= take;
                    if left == 0 {
                        return Some(n);
                    }
                }
                None
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn sweep_matches_naive_merge(
            a in proptest::collection::vec((1_i64..20_000, 1_i64..50), 0..300),
            b in proptest::collection::vec((1_i64..2_000, 1_i64..50), 0..100),
            c in proptest::collection::vec((1_i64..2_000, 1_i64..5), 0..50),
            offset in -500_i64..500,
            sizes in proptest::collection::btree_set(1_i64..100_000, 1..6),
            probes in proptest::collection::vec(0_i64..1_000_000, 0..20),
            hints in proptest::collection::vec(proptest::prop_oneof![proptest::strategy::Just(i64::MIN), 0_i64..400_000, proptest::strategy::Just(i64::MAX)], 6),
        ) {
            let sizes: Vec<i64> = sizes.into_iter().collect();
            for side in [Side::Bid, Side::Ask] {
                let mut ba = L2Book::new(1024, 1, 4096);
                let mut bb = L2Book::new(1024, 1, 4096);
                let mut bc = L2Book::new(1024, 1, 4096);
                for &(p, q) in &a { ba.set(side, p + 100_000, q).unwrap(); }
                for &(p, q) in &b { bb.set(side, p * 10 + 100_000, q).unwrap(); }
                for &(p, q) in &c { bc.set(side, p * 10 + 100_000, q).unwrap(); }
                let lin1 = Conversion { px_mult: 1, offset: 0, qty: QtyConversion::Linear(10) };
                let lin2 = Conversion { px_mult: 1, offset, qty: QtyConversion::Linear(1) };
                let inv = Conversion { px_mult: 1, offset: -offset, qty: QtyConversion::Inverse(1_000_000_000) };
                let books = [(&ba, lin1), (&bb, lin2), (&bc, inv)];
                let mut out = vec![None; sizes.len()];
                sweep_ladder(&books, side, &sizes, &mut out);
                proptest::prop_assert_eq!(&out, &naive(&books, side, &sizes));
                // the search needs the inverse member's aggregates; then it gives the same
                // integers from any hints, and again from the hints it leaves behind
                proptest::prop_assert!(!searchable(&books));
                let mut found = vec![Some(-1); sizes.len()];
                proptest::prop_assert!(!sweep_search(&books, side, &sizes, &mut found, &mut hints.clone()));
                bc.bids.set_inverse(1_000_000_000);
                bc.asks.set_inverse(1_000_000_000);
                let books = [(&ba, lin1), (&bb, lin2), (&bc, inv)];
                let mut h = hints.clone();
                proptest::prop_assert!(sweep_search(&books, side, &sizes, &mut found, &mut h));
                proptest::prop_assert_eq!(&found, &out);
                proptest::prop_assert!(sweep_search(&books, side, &sizes, &mut found, &mut h));
                proptest::prop_assert_eq!(&found, &out);
                for (k, m) in [(0, 3), (1, 2), (2, 1)] {
                    // subsets of members, single sizes
                    let sub = &books[k..k + m];
                    let mut one = vec![None];
                    sweep_ladder(sub, side, &sizes[..1], &mut one);
                    let mut got = vec![Some(-1)];
                    proptest::prop_assert!(sweep_search(sub, side, &sizes[..1], &mut got, &mut [hints[k]]));
                    proptest::prop_assert_eq!(&got, &one);
                }
                // the recording sweep gives the same ladder, and its prefix answers every size
                // it covers exactly as a sweep of that size would
                let mut pf = SweepPrefix::default();
                let mut out2 = vec![None; sizes.len()];
                sweep_ladder_recording(&books, side, &sizes, &mut out2, &mut pf);
                proptest::prop_assert_eq!(&out2, &out);
                let top = *sizes.last().unwrap();
                for q in probes.iter().map(|&x| x % (top + 50) - 2).chain(sizes.iter().flat_map(|&s| [s - 1, s, s + 1])) {
                    if let Some(got) = pf.notional(q) {
                        proptest::prop_assert_eq!(got, naive(&books, side, &[q])[0], "q {}", q);
                    }
                }
            }
        }
    }

    /// Three member books on one side, searchable: a linear one on tick 1 (`a`, quantities ×10
    /// into the composite), a linear one on tick 10 shifted by `offset` (`b`), and an inverse
    /// one on tick 10 shifted back (`c`, with its aggregates for the search).
    fn three_members(side: Side, a: &[(i64, i64)], b: &[(i64, i64)], c: &[(i64, i64)], offset: i64) -> ([L2Book; 3], [Conversion; 3]) {
        let mut bk = [L2Book::new(1024, 1, 4096), L2Book::new(1024, 1, 4096), L2Book::new(1024, 1, 4096)];
        for &(p, q) in a { bk[0].set(side, p + 100_000, q).unwrap(); }
        for &(p, q) in b { bk[1].set(side, p * 10 + 100_000, q).unwrap(); }
        for &(p, q) in c { bk[2].set(side, p * 10 + 100_000, q).unwrap(); }
        bk[2].bids.set_inverse(1_000_000_000);
        bk[2].asks.set_inverse(1_000_000_000);
        let convs = [
            Conversion { px_mult: 1, offset: 0, qty: QtyConversion::Linear(10) },
            Conversion { px_mult: 1, offset, qty: QtyConversion::Linear(1) },
            Conversion { px_mult: 1, offset: -offset, qty: QtyConversion::Inverse(1_000_000_000) },
        ];
        (bk, convs)
    }

    proptest::proptest! {
        /// The search from the run-out prices it left behind, after random changes to the
        /// books (levels added, resized, deleted, in front of, at and behind each size's
        /// run-out level): the same integers as a walk. Exercises the hint check (a rung whose
        /// run-out level did not move is answered from the depth before it) and both ways of
        /// searching on when it moved.
        #[test]
        fn search_from_old_run_outs_matches_walk(
            a in proptest::collection::vec((1_i64..3_000, 1_i64..50), 1..300),
            b in proptest::collection::vec((1_i64..300, 1_i64..50), 0..100),
            c in proptest::collection::vec((1_i64..300, 1_i64..5), 0..50),
            rounds in proptest::collection::vec(proptest::collection::vec((0_usize..3, 1_i64..3_000, 0_i64..60), 1..12), 1..8),
            offset in -50_i64..50,
            sizes in proptest::collection::btree_set(1_i64..20_000, 1..5),
            one in proptest::bool::ANY,
        ) {
            let sizes: Vec<i64> = sizes.into_iter().collect();
            for side in [Side::Bid, Side::Ask] {
                let (mut bk, convs) = three_members(side, &a, &b, &c, offset);
                let mut h = vec![i64::MIN; sizes.len()];
                for k in 0..=rounds.len() {
                    {
                        let m = if one { 1 } else { 3 };
                        let books: Vec<(&L2Book, Conversion)> = bk.iter().zip(convs).take(m).collect();
                        let mut walked = vec![None; sizes.len()];
                        sweep_ladder(&books, side, &sizes, &mut walked);
                        let mut found = vec![Some(-1); sizes.len()];
                        proptest::prop_assert!(sweep_search(&books, side, &sizes, &mut found, &mut h));
                        proptest::prop_assert_eq!(&found, &walked);
                    }
                    for &(m, p, q) in rounds.get(k).map_or(&[][..], |r| &r[..]) {
                        let m = if one { 0 } else { m };
                        let p = if m == 0 { p + 100_000 } else { (p % 300 + 1) * 10 + 100_000 };
                        bk[m].set(side, p, if m == 2 { q % 5 } else { q }).unwrap();
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// `sweep_between` from the run-outs a ladder search left on the same books: sizes off
        /// the ladder between two rungs, on a rung and next to one, below the first, beyond the
        /// last, tiny, exactly the whole side and beyond it, each bracketed by its neighbouring
        /// rungs, by the lower one only, by every rung and by none — the walk's integers every
        /// time. And each run-out is what it says: the walk's depth strictly better than its
        /// price and at it.
        #[test]
        fn between_run_outs_matches_walk(
            a in proptest::collection::vec((1_i64..3_000, 1_i64..50), 1..300),
            b in proptest::collection::vec((1_i64..300, 1_i64..50), 0..100),
            c in proptest::collection::vec((1_i64..300, 1_i64..5), 0..50),
            offset in -50_i64..50,
            ladder in proptest::collection::btree_set(1_i64..20_000, 1..5),
            extra in proptest::collection::vec(1_i64..60_000, 1..12),
            members in 1_usize..=3,
        ) {
            let ladder: Vec<i64> = ladder.into_iter().collect();
            for side in [Side::Bid, Side::Ask] {
                let (bk, convs) = three_members(side, &a, &b, &c, offset);
                let books: Vec<(&L2Book, Conversion)> = bk.iter().zip(convs).take(members).collect();
                let n = ladder.len();
                let mut walked = vec![None; n];
                sweep_ladder(&books, side, &ladder, &mut walked);
                let (mut found, mut h, mut runs) = (vec![Some(-1); n], vec![i64::MIN; n], vec![RunOut::default(); n]);
                proptest::prop_assert!(sweep_search_runs(&books, side, &ladder, &mut found, &mut h, &mut runs));
                proptest::prop_assert_eq!(&found, &walked);
                let mut total = 0_i64;
                walk(&books, side, |_, q| { total += q; true });
                let filled: Vec<RunOut> = (0..n).filter(|&i| walked[i].is_some()).map(|i| runs[i]).collect();
                for r in &filled {
                    // the depth strictly better than the run-out price, and through it
                    if r.q0 > 0 {
                        proptest::prop_assert_eq!(naive(&books, side, &[r.q0])[0], Some(r.n0));
                    }
                    proptest::prop_assert!(r.at > 0);
                    proptest::prop_assert_eq!(naive(&books, side, &[r.q0 + r.at])[0], Some(r.n0 + i128::from(r.price) * i128::from(r.at)));
                }
                let mut qs: Vec<i64> = extra.clone();
                qs.extend(ladder.iter().flat_map(|&s| [s - 1, s, s + 1]));
                qs.extend([1, 2, total, total + 1, total.saturating_mul(3), i64::MAX / 4]);
                for q in qs.into_iter().filter(|&q| q > 0) {
                    let want = naive(&books, side, &[q])[0];
                    let j = ladder.partition_point(|&s| s < q);
                    let lower: Vec<RunOut> = (j > 0 && walked[j - 1].is_some()).then(|| runs[j - 1]).into_iter().collect();
                    let mut around = lower.clone();
                    around.extend((j < n && walked[j].is_some()).then(|| runs[j]));
                    for known in [&around[..], &lower[..], &filled[..], &[][..]] {
                        proptest::prop_assert_eq!(sweep_between(&books, side, q, known), Some(want), "q {} known {:?}", q, known);
                    }
                }
                proptest::prop_assert_eq!(sweep_between(&books, side, 0, &filled), None);
            }
        }
    }

    #[test]
    fn merges_members_best_first() {
        let mut a = L2Book::with_capacity(8);
        let mut b = L2Book::with_capacity(8);
        a.set(Side::Ask, 101, 1).unwrap();
        a.set(Side::Ask, 103, 1).unwrap();
        b.set(Side::Ask, 102, 2).unwrap();
        let conv = Conversion { px_mult: 1, offset: 0, qty: QtyConversion::Linear(1) };
        let books = [(&a, conv), (&b, conv)];
        let mut seen = vec![];
        walk(&books, Side::Ask, |p, q| {
            seen.push((p, q));
            true
        });
        assert_eq!(seen, vec![(101, 1), (102, 2), (103, 1)]);
        let mut out = [None; 3];
        sweep_ladder(&books, Side::Ask, &[1, 3, 5], &mut out);
        assert_eq!(out, [Some(101), Some(101 + 204), None]);
        let mut pf = SweepPrefix::default();
        sweep_ladder_recording(&books, Side::Ask, &[1, 3, 5], &mut out, &mut pf);
        assert_eq!(out, [Some(101), Some(101 + 204), None]);
        assert_eq!(pf.len(), 3);
        assert_eq!(pf.notional(2), Some(Some(101 + 102)));
        assert_eq!(pf.notional(4), Some(Some(101 + 204 + 103)));
        assert_eq!(pf.notional(5), Some(None)); // complete: too thin
        assert_eq!(pf.notional(0), None);
        sweep_ladder_recording(&books, Side::Ask, &[1], &mut out, &mut pf);
        assert_eq!((pf.len(), pf.notional(1), pf.notional(2)), (1, Some(Some(101)), None)); // stopped early
    }
}
