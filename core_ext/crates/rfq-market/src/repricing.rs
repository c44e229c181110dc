//! The end of a venue message: book status reports, which composite members are usable,
//! their basis, the RFQ fast path's market cache, and repricing of the quote ladders.

use crate::instrument::{ALL_TOUCHED, NOT_TOUCHED};
use crate::{BookStatus, CompositeState, Market, MarketCache, Member, QuoteLevel, MAX_SIZES};
use rfq_book::composite::{searchable, sweep_ladder, sweep_ladder_recording, sweep_search_runs, Conversion, MAX_MEMBERS};
use rfq_book::L2Book;
use rfq_kernel::pricing::{ask_price, bid_price, half_spread_cbps, PPM};
use rfq_kernel::Sink;
use rfq_model::Side;
use rfq_ring::record::{flags, kind, withdraw};
use rfq_ring::Record;

impl Market {
    /// End of a venue message (or heartbeat): report status changes, reprice composites whose
    /// inputs changed.
    pub fn on_tick(&mut self, touched: Option<usize>, trigger: &Record, now: i64, out: &mut impl Sink) {
        if let Some(idx) = touched {
            let st = &mut self.instruments[idx];
            let status = st.status();
            if st.reported != status {
                st.reported = status;
                self.out_seq += 1;
                self.stats.status_changes += 1;
                out.emit(&Record {
                    kind: kind::BOOK_STATUS,
                    instrument: st.spec.id,
                    side: 255,
                    flags: 0,
                    source: 0,
                    seq: self.out_seq,
                    ts_event: trigger.ts_event,
                    ts_recv: now,
                    price: 0,
                    qty: 0,
                    aux: status.code(),
                    ts_send: trigger.ts_send,
                });
            }
        }
        // Reprice a composite when a member's book changed (BBO and trade messages change no
        // book and cost nothing here), or when the set of usable members changed.
        let book_changed = touched.is_some_and(|i| std::mem::take(&mut self.instruments[i].dirty));
        for ci in 0..self.composites.len() {
            let member_touched = book_changed && touched.is_some_and(|i| self.instruments[i].composites.contains(&ci));
            let mask = self.live_mask(ci, now);
            let c = &self.composites[ci];
            if member_touched || mask != c.live_mask || !c.priced {
                self.reprice(ci, mask, trigger, now, out);
            }
        }
        // every composite of the instrument has now priced its changes
        if let (true, Some(i)) = (book_changed, touched) {
            self.instruments[i].touched = NOT_TOUCHED;
        }
    }

    /// A member's book is fresh: included, live, not crossed, heard from recently.
    #[inline]
    pub(crate) fn fresh(&self, m: &Member, stale_after: i64, now: i64) -> bool {
        let st = &self.instruments[m.inst];
        m.included && st.status() == BookStatus::Live && now.saturating_sub(st.last_seen_ns) <= stale_after
    }

    /// Fresh, and (with basis normalisation on) its basis to the reference is known.
    #[inline]
    pub(crate) fn usable(&self, c: &CompositeState, i: usize, now: i64) -> bool {
        let m = &c.members[i];
        self.fresh(m, c.spec.stale_after_ns, now) && (c.spec.basis_ema_shift == 0 || i == 0 || m.basis_ready)
    }

    pub(crate) fn live_mask(&self, ci: usize, now: i64) -> u32 {
        let c = &self.composites[ci];
        let mut mask = 0;
        for i in 0..c.members.len() {
            if self.usable(c, i, now) {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// Σ book epochs of a composite's members.
    #[inline]
    pub(crate) fn epoch_of(&self, c: &CompositeState) -> u64 {
        c.members.iter().map(|m| self.instruments[m.inst].epoch).sum()
    }

    /// The last repricing's view of the merged market, if still exact now (see [`MarketCache`]).
    #[inline]
    pub(crate) fn cached_market(&self, ci: usize, now: i64) -> Option<&MarketCache> {
        let c = &self.composites[ci];
        let m = &self.markets[ci];
        (self.market_cache && m.valid && m.epoch == self.epoch_of(c) && m.mask == self.live_mask(ci, now)).then_some(m)
    }

    /// A member's conversion with its current basis offset.
    #[inline]
    pub(crate) fn member_conv(&self, c: &CompositeState, m: &Member) -> Conversion {
        let offset = if c.spec.basis_ema_shift == 0 { 0 } else { m.basis2.div_euclid(2) };
        Conversion { offset, ..m.conv }
    }

    pub(crate) fn usable_books<'a>(&'a self, c: &CompositeState, now: i64, books: &mut [Option<(&'a L2Book, Conversion)>; MAX_MEMBERS]) -> usize {
        let mut n = 0;
        for (i, m) in c.members.iter().enumerate() {
            if self.usable(c, i, now) {
                books[n] = Some((&self.instruments[m.inst].book, self.member_conv(c, m)));
                n += 1;
            }
        }
        n
    }

    /// `bid + ask` of a member in composite price units (no basis), if both sides exist.
    pub(crate) fn mid2(&self, m: &Member) -> Option<i64> {
        let b = &self.instruments[m.inst].book;
        let (bid, ask) = (b.best_bid()?.0, b.best_ask()?.0);
        Some((bid + ask) * m.conv.px_mult)
    }

    /// Move each member's basis estimate towards `reference mid − member mid`. Deterministic
    /// integer EMA; only while both the reference (first member) and the member are fresh.
    pub(crate) fn update_basis(&mut self, ci: usize, now: i64) {
        let c = &self.composites[ci];
        let shift = c.spec.basis_ema_shift;
        if shift == 0 || !self.fresh(&c.members[0], c.spec.stale_after_ns, now) {
            return;
        }
        let Some(ref2) = self.mid2(&c.members[0]) else { return };
        let mut updates = [None; MAX_MEMBERS];
        for (i, m) in c.members.iter().enumerate().skip(1) {
            if self.fresh(m, c.spec.stale_after_ns, now) {
                updates[i] = self.mid2(m).map(|m2| ref2 - m2);
            }
        }
        let c = &mut self.composites[ci];
        for (m, u) in c.members.iter_mut().zip(updates) {
            if let Some(diff2) = u {
                if m.basis_ready {
                    m.basis2 += (diff2 - m.basis2) >> shift;
                } else {
                    m.basis2 = diff2;
                    m.basis_ready = true;
                }
            }
        }
    }

    /// Current basis offsets `(instrument id, offset in composite price units, known)`.
    pub fn basis(&self, composite: u16) -> Option<Vec<(u16, i64, bool)>> {
        let c = &self.composites[self.composite_index(composite)?];
        Some(
            c.members
                .iter()
                .map(|m| (self.instruments[m.inst].spec.id, m.basis2.div_euclid(2), m.basis_ready))
                .collect(),
        )
    }

    /// Why a composite with no usable member cannot quote.
    pub(crate) fn no_market_reason(&self, c: &CompositeState, now: i64) -> u8 {
        let mut reason = withdraw::NO_MARKET;
        for m in c.members.iter().filter(|m| m.included) {
            let st = &self.instruments[m.inst];
            if st.status() == BookStatus::Live && now.saturating_sub(st.last_seen_ns) <= c.spec.stale_after_ns {
                continue; // fresh, but its basis is not known yet
            }
            match st.status() {
                BookStatus::Stale => return withdraw::STALE,
                BookStatus::Live => reason = withdraw::STALE, // silent for too long
                BookStatus::Crossed if reason == withdraw::NO_MARKET => reason = withdraw::CROSSED,
                _ => {}
            }
        }
        reason
    }

    pub(crate) fn reprice(&mut self, ci: usize, mask: u32, trigger: &Record, now: i64, out: &mut impl Sink) {
        self.stats.repricings += 1;
        self.update_basis(ci, now);
        let mask = if self.composites[ci].spec.basis_ema_shift > 0 { self.live_mask(ci, now) } else { mask };
        let mut fresh = [QuoteLevel::default(); MAX_SIZES];
        if let Some(m) = self.price_ladder(ci, mask, now, &mut fresh) {
            // for the desk's volatility estimate (reserved: one per composite and tick)
            self.mids.push((ci, m));
        }
        self.publish_ladder(ci, mask, &fresh, trigger, now, out);
    }

    /// The ladder of composite `ci` over the members in `mask`, into `fresh` (and, where RFQs
    /// price from it, its market cache); the mid of a two-sided, uncrossed market.
    #[inline]
    fn price_ladder(&mut self, ci: usize, mask: u32, now: i64, fresh: &mut [QuoteLevel; MAX_SIZES]) -> Option<i64> {
        let c = &self.composites[ci];
        let nsizes = c.spec.pricing.sizes.len();
        let mut mid = None;
        let epoch = self.epoch_of(c);
        // the cache is kept only where RFQs and accepts can use it (clients, a risk entry), so
        // a market-data-only core pays nothing for it
        let rfq_able = self.rfq_priced[ci];
        let search = self.depth_search;
        // moved out while the books are borrowed (an empty Vec: no allocation)
        let mut markets = std::mem::take(&mut self.markets);
        let market = &mut markets[ci];
        market.valid = false;
        // set again below only by a repricing that swept: a repricing that did not (no usable
        // member, crossed) forgets the changes it saw, so the next one recomputes every size
        let was_reusable = std::mem::take(&mut market.reuse);
        {
            // the usable members' books and what changed in each since the last repricing
            // (one `usable` test per member)
            let mut books: [(&L2Book, Conversion); MAX_MEMBERS] = [(&self.instruments[0].book, c.members[0].conv); MAX_MEMBERS];
            let mut touched = [NOT_TOUCHED; MAX_MEMBERS];
            let mut n = 0;
            for (i, m) in c.members.iter().enumerate() {
                if self.usable(c, i, now) {
                    let st = &self.instruments[m.inst];
                    (books[n], touched[n]) = ((&st.book, self.member_conv(c, m)), st.touched);
                    n += 1;
                }
            }
            let books = &books[..n];
            let reason = if n == 0 {
                Some(self.no_market_reason(c, now))
            } else {
                let (best_bid, best_ask) = best_of(books);
                market.best = (best_bid, best_ask);
                let crossed = is_crossed(best_bid, best_ask, c.spec.cross_tolerance_cbps);
                if let (Some(b), Some(a), false) = (best_bid, best_ask, crossed) {
                    mid = Some((b + a).div_euclid(2));
                }
                crossed.then_some(withdraw::CROSSED)
            };
            if let Some(reason) = reason {
                for q in fresh.iter_mut().take(nsizes) {
                    *q = QuoteLevel { flags: 0, reason, bid: 0, ask: 0 };
                }
            } else {
                let sizes = &c.spec.pricing.sizes;
                let nsz = sizes.len();
                let mut nt = [[None; MAX_SIZES]; 2];
                // Every size by a depth search (cost independent of how deep it sweeps), from
                // where it ran out last time, and only the sizes a change since then can reach
                // (`first_affected`); a walk of every size where the books cannot be searched.
                let searching = search && searchable(books);
                let mut offsets = [0_i64; MAX_MEMBERS];
                for (o, (_, cv)) in offsets.iter_mut().zip(books) {
                    *o = cv.offset;
                }
                let reuse = searching
                    && was_reusable
                    && market.last_mask == mask
                    && market.last_offsets == offsets
                    && market.last_sizes[..nsz] == sizes[..];
                for side in [Side::Bid, Side::Ask] {
                    let s = side as usize;
                    let out = &mut nt[s];
                    let first = if reuse { first_affected(books, &touched[..n], side, &market.hints[s][..nsz], &market.last[s][..nsz]) } else { 0 };
                    out[..first].copy_from_slice(&market.last[s][..first]);
                    // the run-outs stay exact when the search found every size it swept and the
                    // sizes carried over (`first` of them, unchanged) had exact ones
                    let carried = first == 0 || market.runs_exact[s];
                    let searched = first == nsz
                        || (searching
                            && sweep_search_runs(books, side, &sizes[first..], &mut out[first..nsz], &mut market.hints[s][first..nsz], &mut market.runs[s][first..nsz]));
                    if !searched {
                        sweep_ladder(books, side, sizes, out);
                    }
                    market.runs_exact[s] = searching && searched && carried;
                    market.last[s][..nsz].copy_from_slice(&out[..nsz]);
                }
                (market.reuse, market.last_mask, market.last_offsets) = (searching, mask, offsets);
                market.last_sizes[..nsz].copy_from_slice(sizes);
                // no size beyond this ladder's: `last` holds this repricing's notionals exactly
                // where `last_sizes` names a size (what an RFQ for a ladder size reuses)
                market.last_sizes[nsz..].fill(0);
                let [nb, na] = nt;
                if rfq_able {
                    // the RFQ cache's merged levels: walked only as far as the smallest size
                    // (RFQs beyond it search the books)
                    let [pb, pa] = &mut market.prefix;
                    let mut scratch = [None; 1];
                    sweep_ladder_recording(books, Side::Bid, &sizes[..sizes.len().min(1)], &mut scratch, pb);
                    sweep_ladder_recording(books, Side::Ask, &sizes[..sizes.len().min(1)], &mut scratch, pa);
                    (market.valid, market.epoch, market.mask) = (true, epoch, mask);
                }
                for (i, &size) in sizes.iter().enumerate() {
                    let s = half_spread_cbps(&c.spec.pricing, size, c.spec.qty_decimals);
                    let mut q = QuoteLevel::default();
                    if let Some(n) = nb[i] {
                        q.bid = bid_price(n, size, s);
                        q.flags |= flags::BID_VALID;
                    }
                    if let Some(n) = na[i] {
                        q.ask = ask_price(n, size, s);
                        q.flags |= flags::ASK_VALID;
                    }
                    if q.flags != flags::BID_VALID | flags::ASK_VALID {
                        q.reason = withdraw::TOO_THIN;
                    } else if q.bid >= q.ask {
                        q = QuoteLevel { flags: 0, reason: withdraw::CROSSED, bid: 0, ask: 0 };
                    }
                    fresh[i] = q;
                }
            }
        }
        self.markets = markets;
        mid
    }

    /// Publish the levels of `fresh` that changed (all of them at the first pricing).
    #[inline]
    fn publish_ladder(&mut self, ci: usize, mask: u32, fresh: &[QuoteLevel; MAX_SIZES], trigger: &Record, now: i64, out: &mut impl Sink) {
        let nsizes = self.composites[ci].spec.pricing.sizes.len();
        let c = &mut self.composites[ci];
        c.live_mask = mask;
        let first = !c.priced;
        c.priced = true;
        for (i, q) in fresh.iter().enumerate().take(nsizes) {
            if first || c.quotes[i] != *q {
                c.quotes[i] = *q;
                self.out_seq += 1;
                self.stats.quotes += 1;
                out.emit(&Record {
                    kind: kind::QUOTE,
                    instrument: c.spec.id,
                    side: q.reason,
                    flags: q.flags,
                    source: i as u16,
                    seq: self.out_seq,
                    ts_event: trigger.ts_event,
                    ts_recv: now,
                    price: q.bid,
                    qty: c.spec.pricing.sizes[i],
                    aux: q.ask,
                    ts_send: trigger.ts_send,
                });
            }
        }
    }
}

/// The first ladder size (index) whose sweep on `side` may differ from the last repricing's,
/// given the best price each member changed on that side since (`touched`, in `books` order;
/// same members, conversions and sizes as then — the caller checks). `hints[i]` is the
/// composite price where size `i`'s last sweep ran out, `last[i]` its notional.
///
/// Why skipping the sizes before it is safe: a sweep of size `i` takes every level strictly
/// better than `hints[i]` whole and part of the levels at `hints[i]`; nothing worse is read. A
/// change strictly worse than `hints[i]` — the best changed price being worse, all of them are —
/// leaves every level it reads as it was, so it takes the same quantities at the same prices:
/// the same notional. Sizes increase, so their run-out prices move away from the touch and the
/// sizes a change can reach are a suffix. A size that was too thin may be filled by depth added
/// anywhere: it counts as reached by any change on its side. Held by the engine test that
/// compares every output with a core that walks every size at every repricing.
#[inline]
fn first_affected(books: &[(&L2Book, Conversion)], touched: &[[i64; 2]], side: Side, hints: &[i64], last: &[Option<i128>]) -> usize {
    let s = side as usize;
    let mut best: Option<i64> = None;
    for ((_, conv), t) in books.iter().zip(touched) {
        let t = t[s];
        if t == NOT_TOUCHED[s] {
            continue;
        }
        if t == ALL_TOUCHED[s] {
            return 0;
        }
        let Some(cp) = t.checked_mul(conv.px_mult).and_then(|x| x.checked_add(conv.offset)) else { return 0 };
        best = Some(match (best, side) {
            (None, _) => cp,
            (Some(b), Side::Bid) => b.max(cp),
            (Some(b), Side::Ask) => b.min(cp),
        });
    }
    let Some(t) = best else { return hints.len() }; // nothing changed on this side
    (0..hints.len())
        .find(|&i| {
            last[i].is_none()
                || match side {
                    Side::Bid => t >= hints[i],
                    Side::Ask => t <= hints[i],
                }
        })
        .unwrap_or(hints.len())
}

/// Best bid and best ask over converted member books.
#[inline]
pub(crate) fn best_of(books: &[(&L2Book, Conversion)]) -> (Option<i64>, Option<i64>) {
    let best_bid = books.iter().filter_map(|(b, cv)| b.best_bid().map(|(p, q)| cv.convert(p, q).0)).max();
    let best_ask = books.iter().filter_map(|(b, cv)| b.best_ask().map(|(p, q)| cv.convert(p, q).0)).min();
    (best_bid, best_ask)
}

/// The composite counts as crossed: best bid above best ask by more than the tolerance
/// (at or above it with no tolerance).
#[inline]
pub(crate) fn is_crossed(best_bid: Option<i64>, best_ask: Option<i64>, tol_cbps: i64) -> bool {
    let tol = i128::from(tol_cbps);
    match (best_bid, best_ask) {
        (Some(b), Some(a)) if tol == 0 => b >= a,
        (Some(b), Some(a)) => i128::from(b - a) * PPM > i128::from(a) * tol,
        _ => false,
    }
}
