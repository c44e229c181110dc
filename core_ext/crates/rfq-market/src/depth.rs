//! The merged market an RFQ or an accept is priced from: the composite's mid and the sweep
//! notional of any size over its usable, basis-adjusted member books — from the last
//! repricing's levels while they are still exact (the market cache), else from the books.

use crate::repricing::{best_of, is_crossed};
use crate::{CompositeState, Market, MarketCache};
use rfq_book::composite::{sweep_between, sweep_ladder, sweep_search, Conversion, RunOut, MAX_MEMBERS};
use rfq_book::L2Book;
use rfq_model::{PricingParams, Side};
use rfq_ring::record::{rfq_reject, withdraw};

/// The book side a client side `s` is priced from (0 = the client buys: asks).
#[inline]
fn side_of(s: usize) -> Side {
    if s == 0 {
        Side::Ask
    } else {
        Side::Bid
    }
}

/// One composite's market as a request sees it: built by [`Market::depth`], loaded by
/// [`Depth::open`] (in place: the book store is hundreds of bytes and is not written on the
/// cached path).
pub struct Depth<'a> {
    market: &'a Market,
    c: &'a CompositeState,
    now: i64,
    /// The request's amount (base units unless in quote currency).
    amount: i64,
    /// The last repricing's market, when still exact (see `MarketCache`).
    cached: Option<&'a MarketCache>,
    /// Where each ladder size's sweep ran out at the last repricing: where a depth search
    /// starts (valid or not, a start never changes a result).
    hints: &'a [[i64; crate::MAX_SIZES]; 2],
    /// The usable books, filled only when needed.
    store: Option<[(&'a L2Book, Conversion); MAX_MEMBERS]>,
    /// Books in `store`.
    n: usize,
    /// Sweep notionals of the requested base size answered by the cached levels, per side.
    pre: [Option<Option<i128>>; 2],
    mid: i64,
}

impl Market {
    /// Composite mid `(best bid + best ask) / 2` (floor) over the members usable at `now`,
    /// basis-adjusted; `None` without a two-sided usable market or when crossed beyond
    /// tolerance.
    pub fn composite_mid(&self, composite: u16, now: i64) -> Option<i64> {
        let ci = self.composite_index(composite)?;
        self.mid_of(ci, now)
    }

    /// [`Market::composite_mid`] of composite index `ci`.
    pub fn mid_of(&self, ci: usize, now: i64) -> Option<i64> {
        let c = &self.composites[ci];
        let (b, a) = match self.cached_market(ci, now) {
            Some(m) => m.best,
            None => {
                let mut books: [(&L2Book, Conversion); MAX_MEMBERS] = [(&self.instruments[0].book, c.members[0].conv); MAX_MEMBERS];
                let n = self.books_of(c, now, &mut books);
                best_of(&books[..n])
            }
        };
        if is_crossed(b, a, c.spec.cross_tolerance_cbps) {
            return None;
        }
        Some((b? + a?).div_euclid(2))
    }

    /// The market of composite `ci` for a request of `amount` at `now`, still to be loaded by
    /// [`Depth::open`].
    #[inline]
    pub fn depth(&self, ci: usize, amount: i64, now: i64) -> Depth<'_> {
        Depth {
            market: self,
            c: &self.composites[ci],
            now,
            amount,
            cached: self.cached_market(ci, now),
            hints: &self.markets[ci].hints,
            store: None,
            n: 0,
            pre: [None; 2],
            mid: 0,
        }
    }

    /// The books of the members in `mask` (a usable set) with their conversions in
    /// `buf[..n]`, as `usable_books` gives them; returns `n`.
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

    /// The books of a composite usable at `now` with their conversions in `buf[..n]`;
    /// returns `n`.
    #[inline]
    fn books_of<'a>(&'a self, c: &CompositeState, now: i64, buf: &mut [(&'a L2Book, Conversion); MAX_MEMBERS]) -> usize {
        let mut n = 0;
        for (i, m) in c.members.iter().enumerate() {
            if self.usable(c, i, now) {
                buf[n] = (&self.instruments[m.inst].book, self.member_conv(c, m));
                n += 1;
            }
        }
        n
    }
}

impl<'a> Depth<'a> {
    /// Loads the market for the `active` client sides (`in_quote`: the amount is in quote
    /// currency, so no base size is known yet): `Err(reject reason)` without a usable,
    /// uncrossed two-sided market.
    #[inline]
    pub fn open(&mut self, in_quote: bool, active: &[bool; 2]) -> Result<(), i64> {
        let (bb, ba) = self.load_books(in_quote, active)?;
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
    fn load_books(&mut self, in_quote: bool, active: &[bool; 2]) -> Result<(Option<i64>, Option<i64>), i64> {
        let (market, c) = (self.market, self.c);
        let blank = (&market.instruments[0].book, c.members[0].conv);
        match self.cached {
            Some(m) => {
                let mut deep = in_quote;
                for s in 0..2 {
                    if active[s] && !in_quote {
                        let side = side_of(s);
                        self.pre[s] = m.prefix[side as usize].notional(self.amount).or_else(|| m.rung(side, self.amount));
                        deep |= self.pre[s].is_none();
                    }
                }
                // the books only when a sweep goes beyond the cached levels (the usable set is
                // the cached one)
                if deep {
                    self.n = market.books_in(c, m.mask, self.store.insert([blank; MAX_MEMBERS]));
                }
                Ok(m.best)
            }
            None => {
                let buf = self.store.insert([blank; MAX_MEMBERS]);
                let n = market.books_of(c, self.now, buf);
                if n == 0 {
                    return Err(match market.no_market_reason(c, self.now) {
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

    /// The books were taken (a sweep may read them); false when the cache answers.
    pub(crate) fn reads_books(&self) -> bool {
        self.store.is_some()
    }

    /// The composite mid (valid after [`Depth::open`]).
    #[inline]
    pub fn mid(&self) -> i64 {
        self.mid
    }

    /// The composite's live pricing v1 parameters and quantity decimals (the size part of
    /// every spread).
    #[inline]
    pub fn pricing(&self) -> (&'a PricingParams, u32) {
        (&self.c.spec.pricing, self.c.spec.qty_decimals)
    }

    /// The sweep notional of `q` for client side `s` (0 = the client buys: the asks), from the
    /// cached levels when they reach, else the books; `None` when the market is too thin.
    #[inline]
    pub fn notional(&self, s: usize, q: i64) -> Option<i128> {
        let side = side_of(s);
        // the RFQ's own size as loaded; else the last repricing's merged levels, or its sweep of
        // the same size when `q` is a ladder size (both exact while the cache is)
        let cached_nt = if q == self.amount && self.pre[s].is_some() {
            self.pre[s]
        } else {
            self.cached.and_then(|m| m.prefix[side as usize].notional(q).or_else(|| m.rung(side, q)))
        };
        match cached_nt {
            Some(nt) => nt,
            None => self.sweep(side, q),
        }
    }

    /// The notional of sweeping `q` from the books: while the cache is exact, a search between
    /// where the ladder sizes around `q` ran out at the last repricing (no query to bracket
    /// it; beyond the last size, stepping out from its run-out); else a depth search starting
    /// where the smallest ladder size at least `q` ran out.
    #[inline]
    fn sweep(&self, side: Side, q: i64) -> Option<i128> {
        let mut nt = [None];
        if let Some(buf) = &self.store {
            if let Some(m) = self.cached.filter(|_| self.market.depth_search) {
                let mut known = [RunOut::default(); 2];
                let k = m.runs_around(side, q, &mut known);
                if k > 0 {
                    if let Some(nt) = sweep_between(&buf[..self.n], side, q, &known[..k]) {
                        return nt;
                    }
                }
            }
            let sizes = &self.c.spec.pricing.sizes;
            let i = sizes.partition_point(|&s| s < q).min(sizes.len().saturating_sub(1));
            let mut hint = [self.hints[side as usize].get(i).copied().unwrap_or(i64::MIN)];
            if !(self.market.depth_search && sweep_search(&buf[..self.n], side, &[q], &mut nt, &mut hint)) {
                sweep_ladder(&buf[..self.n], side, &[q], &mut nt);
            }
        } else {
            // (not reached: the books are taken above whenever a sweep may be needed)
            let mut own = [(&self.market.instruments[0].book, self.c.members[0].conv); MAX_MEMBERS];
            let m = self.market.books_of(self.c, self.now, &mut own);
            sweep_ladder(&own[..m], side, &[q], &mut nt);
        }
        nt[0]
    }
}

impl rfq_kernel::views::CompositeDepth for Depth<'_> {
    #[inline]
    fn open(&mut self, in_quote: bool, active: &[bool; 2]) -> Result<(), i64> {
        Depth::open(self, in_quote, active)
    }
    #[inline]
    fn mid(&self) -> i64 {
        Depth::mid(self)
    }
    #[inline]
    fn pricing(&self) -> (&PricingParams, u32) {
        Depth::pricing(self)
    }
    #[inline]
    fn notional(&self, s: usize, q: i64) -> Option<i128> {
        Depth::notional(self, s, q)
    }
}
