//! One side of an L2 book: a dense tick-indexed window near the touch plus a sorted overflow.
//!
//! Real venue diffs are spread over the top thousand levels (Binance BTCUSDT spot: median 2,630
//! ticks from the touch, 90% within 16k ticks) and a few percent land far away (1% to 10× of the
//! mid). So a side is stored as:
//!
//! - a **dense window** of `W` tick slots (quantities, one `i64` each) covering the `3W/4` ticks
//!   behind the best level and `W/4` ticks of headroom in front of it, with a bitmap of occupied
//!   slots: setting a level is one index computation, finding the next level is a word scan;
//! - a **far** overflow: every level behind the window, sorted by key with the best last, so the
//!   levels nearest the window move least.
//!
//! The window is recentred (levels moved between window and overflow) when a level appears in
//! front of it, or when the best level has drifted into the back quarter. Keys are the price for
//! bids and the negated price for asks, so "better" is always "larger key" on both sides.
//!
//! Nothing allocates after construction: the window is fixed, the overflow and the scratch space
//! for recentring are reserved at `capacity` levels, and a full side is an error.

use crate::error::BookError;
use crate::fenwick::{Agg, Fenwick};
use rfq_model::Side;

/// Default window size in ticks (1 MiB of quantities per side): the instruments' default,
/// [`rfq_model::DEFAULT_BOOK_WINDOW`] (each instrument may configure its own).
pub const DEFAULT_WINDOW: usize = rfq_model::DEFAULT_BOOK_WINDOW as usize;

/// One side of a book. See the module docs for the layout.
#[derive(Debug, Clone)]
pub struct Ladder {
    side: Side,
    tick: i64,
    /// Tick index (key / tick) of window slot 0.
    base: i64,
    qty: Box<[i64]>,
    bits: Box<[u64]>,
    /// Bit `j` set ⇔ `bits[j] != 0`: lets iteration skip empty stretches of the window.
    summary: Box<[u64]>,
    /// Σ quantity and Σ tick index × quantity per bitmap word, as a Fenwick tree over the words
    /// in *reverse* order (position `words − 1 − w`), so a prefix is the depth (and its
    /// notional) from the top of the window down: a sweep of any size finds its last word by
    /// one O(log words) descent.
    fen: Fenwick<Agg>,
    /// Inverse-contract numerator (0: none, see [`Ladder::set_inverse`]): each level also counts
    /// as `floor(qty × inv_num / price)` converted units, aggregated like the quantity.
    inv_num: i128,
    /// Converted units per window slot (empty when `inv_num == 0`): a partial word is a straight
    /// sum, as for the quantities.
    cqty: Box<[i64]>,
    /// Σ converted units and Σ tick index × converted units per word (reverse positions; one
    /// unused slot when `inv_num == 0`).
    fen_inv: Fenwick<Agg>,
    dense_len: usize,
    /// Slot of the best occupied window level (meaningful when `dense_len > 0`).
    best: usize,
    /// Levels behind the window: `(tick index, qty)`, ascending, best last.
    far: Vec<(i64, i64)>,
    scratch: Vec<(i64, i64)>,
    capacity: usize,
    placed: bool,
}

impl Ladder {
    /// An empty ladder with tick 1 and the default window, holding up to `capacity` levels.
    pub fn with_capacity(side: Side, capacity: usize) -> Self {
        Self::new(side, capacity, 1, DEFAULT_WINDOW)
    }

    /// An empty ladder: prices must be multiples of `tick` (price units); the dense window spans
    /// `window` ticks (rounded up to a multiple of 4096).
    pub fn new(side: Side, capacity: usize, tick: i64, window: usize) -> Self {
        let window = window.max(4096).div_ceil(4096) * 4096;
        Ladder {
            side,
            tick: tick.max(1),
            base: 0,
            qty: vec![0; window].into_boxed_slice(),
            bits: vec![0; window / 64].into_boxed_slice(),
            summary: vec![0; window / 4096].into_boxed_slice(),
            fen: Fenwick::new(window / 64),
            inv_num: 0,
            cqty: Box::new([]),
            fen_inv: Fenwick::new(1),
            dense_len: 0,
            best: 0,
            far: Vec::with_capacity(capacity),
            scratch: Vec::with_capacity(capacity),
            capacity,
            placed: false,
        }
    }

    /// Which side this ladder is.
    #[inline]
    pub fn side(&self) -> Side {
        self.side
    }

    /// Number of levels.
    #[inline]
    pub fn len(&self) -> usize {
        self.dense_len + self.far.len()
    }

    /// True when there are no levels.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fixed capacity in levels.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    #[inline]
    /// Ticks in the dense window.
    pub fn window(&self) -> usize {
        self.qty.len()
    }

    /// Number of 64-tick bitmap words in the window.
    #[inline]
    fn words(&self) -> usize {
        self.bits.len()
    }

    /// Tick index of a price (`None` if the price is not on the tick grid).
    #[inline]
    fn index_of(&self, price: i64) -> Option<i64> {
        let key = match self.side {
            Side::Bid => price,
            Side::Ask => -price,
        };
        if self.tick == 1 {
            return Some(key); // the shipped instruments' tick: no division
        }
        (key % self.tick == 0).then(|| key / self.tick)
    }

    #[inline]
    fn price_of(&self, index: i64) -> i64 {
        let key = index * self.tick;
        match self.side {
            Side::Bid => key,
            Side::Ask => -key,
        }
    }

    #[inline]
    fn set_bit(&mut self, slot: usize) {
        let w = slot >> 6;
        self.bits[w] |= 1 << (slot & 63);
        self.summary[w >> 6] |= 1 << (w & 63);
    }

    #[inline]
    fn clear_bit(&mut self, slot: usize) {
        let w = slot >> 6;
        self.bits[w] &= !(1 << (slot & 63));
        if self.bits[w] == 0 {
            self.summary[w >> 6] &= !(1 << (w & 63));
        }
    }

    /// Highest non-empty bitmap word strictly below word `w`.
    #[inline]
    fn word_below(&self, w: usize) -> Option<usize> {
        if w == 0 {
            return None;
        }
        let top = w - 1;
        let mut sw = top >> 6;
        let mut mask = self.summary[sw] & (u64::MAX >> (63 - (top & 63)));
        loop {
            if mask != 0 {
                return Some((sw << 6) + 63 - mask.leading_zeros() as usize);
            }
            if sw == 0 {
                return None;
            }
            sw -= 1;
            mask = self.summary[sw];
        }
    }

    /// Highest occupied slot at or below `slot`.
    #[inline]
    fn scan_down(&self, slot: usize) -> Option<usize> {
        let w = slot >> 6;
        let mask = self.bits[w] & (u64::MAX >> (63 - (slot & 63)));
        if mask != 0 {
            return Some((w << 6) + 63 - mask.leading_zeros() as usize);
        }
        let w = self.word_below(w)?;
        Some((w << 6) + 63 - self.bits[w].leading_zeros() as usize)
    }

    /// Visit every occupied slot in ascending order (skipping empty words via the summary).
    #[inline]
    fn for_each_slot(&self, mut f: impl FnMut(usize)) {
        for (sw, &s) in self.summary.iter().enumerate() {
            let mut sm = s;
            while sm != 0 {
                let w = (sw << 6) + sm.trailing_zeros() as usize;
                sm &= sm - 1;
                let mut m = self.bits[w];
                while m != 0 {
                    f((w << 6) + m.trailing_zeros() as usize);
                    m &= m - 1;
                }
            }
        }
    }

    /// Empty the window (levels, bitmap, summary, aggregates).
    fn clear_window(&mut self) {
        self.fen.clear();
        if self.inv_num != 0 {
            self.fen_inv.clear();
        }
        let Ladder { qty, cqty, bits, summary, .. } = self;
        let inverse = !cqty.is_empty();
        for (sw, s) in summary.iter_mut().enumerate() {
            while *s != 0 {
                let w = (sw << 6) + s.trailing_zeros() as usize;
                *s &= *s - 1;
                let mut m = bits[w];
                while m != 0 {
                    let slot = (w << 6) + m.trailing_zeros() as usize;
                    qty[slot] = 0;
                    if inverse {
                        cqty[slot] = 0;
                    }
                    m &= m - 1;
                }
                bits[w] = 0;
            }
        }
        self.dense_len = 0;
    }

    /// Set the level at `price` to `qty` (0 deletes it; deleting an absent level is a no-op).
    ///
    /// Never allocates. Returns an error, leaving the ladder unchanged, for a non-positive or
    /// off-tick price, a negative quantity, or a new level in a full ladder.
    #[inline]
    pub fn set(&mut self, price: i64, qty: i64) -> Result<(), BookError> {
        if price <= 0 {
            return Err(BookError::NonPositivePrice(price));
        }
        if qty < 0 {
            return Err(BookError::NegativeQuantity(qty));
        }
        let idx = self.index_of(price).ok_or(BookError::OffTick(price))?;
        if !self.placed {
            if qty == 0 {
                return Ok(());
            }
            self.base = idx - self.front_slot() as i64;
            self.placed = true;
        }
        let w = self.window() as i64;
        let rel = idx - self.base;
        if rel >= w {
            if qty == 0 {
                return Ok(()); // nothing lives in front of the window
            }
            if self.len() == self.capacity {
                return Err(BookError::CapacityExceeded(self.capacity));
            }
            self.recenter(idx);
            return self.set_dense((idx - self.base) as usize, qty);
        }
        if rel >= 0 {
            return self.set_dense(rel as usize, qty);
        }
        self.set_far(idx, qty)
    }

    /// Slot the best level is placed at when the window is (re)positioned.
    #[inline]
    fn front_slot(&self) -> usize {
        self.window() - self.window() / 4
    }

    /// Account a slot's quantity going from `old` to `new` in the word aggregates.
    #[inline]
    fn add_to_word(&mut self, slot: usize, old: i64, new: i64) {
        let r = self.words() - 1 - (slot >> 6);
        let idx = self.base + slot as i64;
        let d = new - old;
        self.fen.add(r, Agg { q: d, n: i128::from(idx) * i128::from(d) });
        if self.inv_num != 0 {
            let c = self.converted(idx, new);
            let dc = c - self.cqty[slot];
            self.cqty[slot] = c;
            if dc != 0 {
                self.fen_inv.add(r, Agg { q: dc, n: i128::from(idx) * i128::from(dc) });
            }
        }
    }

    /// Converted units of `qty` at tick index `idx`: `floor(qty × inv_num / price)`.
    #[inline]
    fn converted(&self, idx: i64, qty: i64) -> i64 {
        if qty == 0 {
            return 0;
        }
        crate::composite::inverse_units(qty, self.inv_num, self.price_of(idx))
    }

    #[inline]
    fn set_dense(&mut self, slot: usize, qty: i64) -> Result<(), BookError> {
        let old = self.qty[slot];
        if qty == 0 {
            if old != 0 {
                self.qty[slot] = 0;
                self.add_to_word(slot, old, 0);
                self.clear_bit(slot);
                self.dense_len -= 1;
                if slot == self.best {
                    self.after_best_removed();
                }
            }
            return Ok(());
        }
        if old == 0 {
            if self.len() == self.capacity {
                return Err(BookError::CapacityExceeded(self.capacity));
            }
            self.set_bit(slot);
            self.dense_len += 1;
            if self.dense_len == 1 || slot > self.best {
                self.best = slot;
            }
        }
        self.qty[slot] = qty;
        self.add_to_word(slot, old, qty);
        Ok(())
    }

    /// The best window level was deleted: find the next one, and recentre if the window has
    /// emptied or the best has drifted into the back quarter.
    #[cold]
    fn after_best_removed(&mut self) {
        match (self.dense_len > 0).then(|| self.scan_down(self.best)).flatten() {
            Some(s) => {
                self.best = s;
                if s < self.window() / 4 {
                    self.recenter(self.base + s as i64);
                }
            }
            None => match self.far.last() {
                Some(&(idx, _)) => self.recenter(idx),
                None => self.placed = false,
            },
        }
    }

    fn set_far(&mut self, idx: i64, qty: i64) -> Result<(), BookError> {
        match self.far.binary_search_by_key(&idx, |&(i, _)| i) {
            Ok(i) => {
                if qty == 0 {
                    self.far.remove(i);
                    if self.is_empty() {
                        self.placed = false;
                    }
                } else {
                    self.far[i].1 = qty;
                }
            }
            Err(i) => {
                if qty != 0 {
                    if self.len() == self.capacity {
                        return Err(BookError::CapacityExceeded(self.capacity));
                    }
                    self.far.insert(i, (idx, qty));
                }
            }
        }
        Ok(())
    }

    /// Move the window so that tick index `best_idx` sits at the front slot, moving levels
    /// between the window and the overflow. O(window / 64 + levels); rare.
    #[cold]
    fn recenter(&mut self, best_idx: i64) {
        let new_base = best_idx - self.front_slot() as i64;
        // 1. empty the window into scratch (ascending)
        self.scratch.clear();
        let mut scratch = std::mem::take(&mut self.scratch);
        self.for_each_slot(|slot| scratch.push((self.base + slot as i64, self.qty[slot])));
        self.scratch = scratch;
        self.clear_window();
        self.base = new_base;
        let w = self.window() as i64;
        // 2. overflow levels now inside the window move in (they are the best of the overflow)
        while let Some(&(idx, q)) = self.far.last() {
            if idx < new_base {
                break;
            }
            self.far.pop();
            self.place_dense(idx, q, w);
        }
        // 3. former window levels: behind the new window → overflow (they are better than every
        //    remaining overflow level, so appending keeps it sorted); otherwise back in.
        for k in 0..self.scratch.len() {
            let (idx, q) = self.scratch[k];
            if idx < new_base {
                self.far.push((idx, q));
            } else {
                self.place_dense(idx, q, w);
            }
        }
        self.scratch.clear();
        self.placed = true;
    }

    #[inline]
    fn place_dense(&mut self, idx: i64, q: i64, w: i64) {
        let rel = idx - self.base;
        debug_assert!((0..w).contains(&rel), "level {idx} outside the new window");
        let slot = rel as usize;
        self.qty[slot] = q;
        self.add_to_word(slot, 0, q);
        self.set_bit(slot);
        self.dense_len += 1;
        if self.dense_len == 1 || slot > self.best {
            self.best = slot;
        }
    }

    /// Remove every level (keeps the capacity).
    pub fn clear(&mut self) {
        self.clear_window();
        self.far.clear();
        self.placed = false;
    }

    /// Best level `(price, qty)`.
    #[inline]
    pub fn best(&self) -> Option<(i64, i64)> {
        if self.dense_len > 0 {
            Some((self.price_of(self.base + self.best as i64), self.qty[self.best]))
        } else {
            self.far.last().map(|&(i, q)| (self.price_of(i), q))
        }
    }

    /// Worst (furthest from the touch) level `(price, qty)`.
    pub fn worst(&self) -> Option<(i64, i64)> {
        if let Some(&(i, q)) = self.far.first() {
            return Some((self.price_of(i), q));
        }
        if self.dense_len == 0 {
            return None;
        }
        let sw = self.summary.iter().position(|&s| s != 0)?;
        let w = (sw << 6) + self.summary[sw].trailing_zeros() as usize;
        let slot = (w << 6) + self.bits[w].trailing_zeros() as usize;
        Some((self.price_of(self.base + slot as i64), self.qty[slot]))
    }

    /// Quantity resting at `price` (0 if none).
    #[inline]
    pub fn qty_at(&self, price: i64) -> i64 {
        let Some(idx) = self.index_of(price) else { return 0 };
        let rel = idx - self.base;
        if !self.placed || rel >= self.window() as i64 {
            0
        } else if rel >= 0 {
            self.qty[rel as usize]
        } else {
            self.far.binary_search_by_key(&idx, |&(i, _)| i).map_or(0, |k| self.far[k].1)
        }
    }

    /// Levels from the best outwards, `(price, qty)`.
    #[inline]
    pub fn iter(&self) -> Levels<'_> {
        let (word, mask) = if self.dense_len > 0 {
            let w = self.best >> 6;
            (w, self.bits[w] & (u64::MAX >> (63 - (self.best & 63))))
        } else {
            (0, 0)
        };
        Levels { ladder: self, word, mask, far: self.far.len() }
    }

    /// Take `qty` from the best level outwards: `Some((qty, notional))` with notional in
    /// price-units × qty-units (exact, `i128`), or `None` if the ladder holds less than `qty`.
    ///
    /// Depth-independent: one descent of the word trees finds the word where the size runs out
    /// and the exact totals of every word before it (O(log words)); only that word is walked
    /// level by level (≤ 64 slots). Levels behind the window are walked exactly.
    #[inline]
    pub fn sweep(&self, qty: i64) -> Option<(i64, i128)> {
        if qty <= 0 {
            return Some((0, 0));
        }
        let mut left = qty;
        let mut idx_qty: i128 = 0; // Σ tick index × quantity taken
        if self.dense_len > 0 {
            let (k, taken) = self.fen.descend(qty);
            left -= taken.q;
            idx_qty = taken.n;
            if k < self.words() {
                // word `w` holds at least `left`: walk its levels from the top
                let w = self.words() - 1 - k;
                let mut m = self.bits[w];
                while m != 0 {
                    let bit = 63 - m.leading_zeros() as usize;
                    m &= !(1 << bit);
                    let slot = (w << 6) + bit;
                    let take = left.min(self.qty[slot]);
                    idx_qty += i128::from(self.base + slot as i64) * i128::from(take);
                    left -= take;
                    if left == 0 {
                        return Some((qty, self.notional(idx_qty)));
                    }
                }
                debug_assert!(false, "word aggregates out of step with the levels");
            }
        }
        for &(i, q) in self.far.iter().rev() {
            let take = left.min(q);
            idx_qty += i128::from(i) * i128::from(take);
            left -= take;
            if left == 0 {
                return Some((qty, self.notional(idx_qty)));
            }
        }
        None
    }

    /// Σ quantity and Σ tick index × quantity of the levels at tick index `bound` or better
    /// (`≥ bound`): the depth a sweep to that level takes. O(log words + 64) in the window;
    /// overflow levels it reaches are summed exactly.
    #[inline]
    pub fn depth_from(&self, bound: i64) -> (i64, i128) {
        self.depth_from_impl::<false, true>(bound)
    }

    /// Σ quantity of the levels at tick index `bound` or better (see [`Ladder::depth_from`]).
    #[inline]
    pub fn qty_from(&self, bound: i64) -> i64 {
        self.depth_from_impl::<false, false>(bound).0
    }

    /// As [`Ladder::depth_from`] in converted units `floor(qty × num / price)` per level, for
    /// the numerator set by [`Ladder::set_inverse`] (all zero when none is set).
    #[inline]
    pub fn inverse_depth_from(&self, bound: i64) -> (i64, i128) {
        if self.inv_num == 0 {
            return (0, 0);
        }
        self.depth_from_impl::<true, true>(bound)
    }

    /// Σ converted units of the levels at tick index `bound` or better.
    #[inline]
    pub fn inverse_qty_from(&self, bound: i64) -> i64 {
        if self.inv_num == 0 {
            return 0;
        }
        self.depth_from_impl::<true, false>(bound).0
    }

    #[inline]
    fn depth_from_impl<const INV: bool, const NOTIONAL: bool>(&self, bound: i64) -> (i64, i128) {
        if !self.placed {
            return (0, 0);
        }
        let rel = bound.saturating_sub(self.base);
        if rel >= self.window() as i64 {
            return (0, 0); // nothing lives in front of the window
        }
        let tree = if INV { &self.fen_inv } else { &self.fen };
        let nw = self.words();
        if rel < 0 {
            let value = |idx: i64, q: i64| if INV { self.converted(idx, q) } else { q };
            let Agg { mut q, mut n } = tree.prefix(nw);
            for &(i, lq) in self.far.iter().rev() {
                if i < bound {
                    break;
                }
                let v = value(i, lq);
                q += v;
                if NOTIONAL {
                    n += i128::from(i) * i128::from(v);
                }
            }
            return (q, if NOTIONAL { n } else { 0 });
        }
        let slot = rel as usize;
        let w = slot >> 6;
        // the words above `w` are the first `nw − 1 − w` positions of the reversed trees
        let k = nw - 1 - w;
        let Agg { mut q, mut n } = tree.prefix(k);
        let vals = if INV { &self.cqty[slot..(w + 1) << 6] } else { &self.qty[slot..(w + 1) << 6] };
        if !NOTIONAL {
            // empty slots hold 0: a straight sum over the rest of the word
            return (q + vals.iter().sum::<i64>(), 0);
        }
        let mut m = self.bits[w] & (u64::MAX << (slot & 63));
        while m != 0 {
            let s = (w << 6) + m.trailing_zeros() as usize;
            m &= m - 1;
            let idx = self.base + s as i64;
            let v = if INV { self.cqty[s] } else { self.qty[s] };
            q += v;
            n += i128::from(idx) * i128::from(v);
        }
        (q, n)
    }

    /// Tick index of the level where the depth from the best reaches `target` (in quantity, or
    /// with `inverse` in converted units): the worst level a sweep of `target` takes. `None`
    /// when the ladder holds less (or, `inverse`, has no numerator). One tree descent and a walk
    /// of one word: O(log words + 64).
    #[inline]
    pub fn run_out_index(&self, target: i64, inverse: bool) -> Option<i64> {
        if inverse && self.inv_num == 0 {
            return None;
        }
        let mut left = target.max(1);
        if self.dense_len > 0 {
            let (tree, vals) = if inverse { (&self.fen_inv, &self.cqty) } else { (&self.fen, &self.qty) };
            let (k, taken) = tree.descend(left);
            left -= taken.q;
            if k < self.words() {
                let w = self.words() - 1 - k;
                let mut m = self.bits[w];
                while m != 0 {
                    let bit = 63 - m.leading_zeros() as usize;
                    m &= !(1 << bit);
                    let slot = (w << 6) + bit;
                    left -= vals[slot];
                    if left <= 0 {
                        return Some(self.base + slot as i64);
                    }
                }
                debug_assert!(false, "word aggregates out of step with the levels");
                return None;
            }
        }
        for &(i, q) in self.far.iter().rev() {
            left -= if inverse { self.converted(i, q) } else { q };
            if left <= 0 {
                return Some(i);
            }
        }
        None
    }

    /// Also aggregate every level as `floor(qty × num / price)` converted units — an inverse
    /// contract's base quantity in a composite's scale (see `composite::QtyConversion`) — so a
    /// composite sweep over this ladder needs no walk. `num ≤ 0` turns it off. Allocates the
    /// aggregates once (configuration time, never on the update path) and fills them from the
    /// current levels.
    pub fn set_inverse(&mut self, num: i128) {
        let num = num.max(0);
        if num == self.inv_num {
            return;
        }
        self.inv_num = num;
        let n = if num == 0 { 1 } else { self.words() };
        self.fen_inv = Fenwick::new(n);
        self.cqty = if num == 0 { Box::new([]) } else { vec![0; self.window()].into_boxed_slice() };
        if num != 0 {
            let mut slots = Vec::with_capacity(self.dense_len);
            self.for_each_slot(|s| slots.push(s));
            for s in slots {
                let idx = self.base + s as i64;
                let c = self.converted(idx, self.qty[s]);
                self.cqty[s] = c;
                let r = self.words() - 1 - (s >> 6);
                self.fen_inv.add(r, Agg { q: c, n: i128::from(idx) * i128::from(c) });
            }
        }
    }

    /// The numerator of [`Ladder::set_inverse`], if one is set.
    #[inline]
    pub fn inverse_num(&self) -> Option<i128> {
        (self.inv_num != 0).then_some(self.inv_num)
    }

    /// Price tick (price units).
    #[inline]
    pub fn tick(&self) -> i64 {
        self.tick
    }

    /// Σ price × qty from Σ tick index × qty.
    #[inline]
    fn notional(&self, idx_qty: i128) -> i128 {
        let n = idx_qty * i128::from(self.tick);
        match self.side {
            Side::Bid => n,
            Side::Ask => -n,
        }
    }

    /// Feed `(price, qty)` of every level to `f` in ascending key order (worst first), for
    /// hashing and snapshots. The order depends only on the levels, not on the window.
    pub fn for_each_raw(&self, mut f: impl FnMut(i64, i64)) {
        for &(i, q) in &self.far {
            f(self.price_of(i), q);
        }
        self.for_each_slot(|slot| f(self.price_of(self.base + slot as i64), self.qty[slot]));
    }
}

impl Ladder {
    /// Tick index of window slot 0 while the ladder is placed (`None` when it holds no window
    /// position: empty). With [`Ladder::for_each_raw`] this is everything a snapshot needs.
    pub fn window_base(&self) -> Option<i64> {
        self.placed.then_some(self.base)
    }

    /// Tick index of a price on this ladder (`key / tick`, the key being the price for bids and
    /// its negation for asks); `None` off the tick grid.
    pub fn tick_index(&self, price: i64) -> Option<i64> {
        self.index_of(price)
    }

    /// Price of a tick index (inverse of [`Ladder::tick_index`]).
    pub fn index_price(&self, index: i64) -> i64 {
        self.price_of(index)
    }

    /// Replaces every level by `levels` — `(tick index, qty)` in strictly ascending tick index
    /// (worst first, the order of [`Ladder::for_each_raw`]) — with the window at `base`
    /// (`None`: not placed, then `levels` must be empty). Everything is checked before anything
    /// changes: on `Err(why)` the ladder is untouched. Levels at or behind `base` go to the
    /// window, earlier ones to the overflow, so the ladder is the one that was saved, window
    /// included. O(levels + window / 64); allocates nothing.
    pub fn load(&mut self, base: Option<i64>, levels: &[(i64, i64)]) -> Result<(), String> {
        self.check_load(base, levels)?;
        self.clear();
        let Some(base) = base else { return Ok(()) };
        self.base = base;
        self.placed = true;
        let w = self.window() as i64;
        for &(idx, q) in levels {
            if idx < base {
                self.far.push((idx, q));
            } else {
                self.place_dense(idx, q, w);
            }
        }
        Ok(())
    }

    /// The checks of [`Ladder::load`], changing nothing.
    pub fn check_load(&self, base: Option<i64>, levels: &[(i64, i64)]) -> Result<(), String> {
        if levels.len() > self.capacity {
            return Err(format!("{} levels, capacity {}", levels.len(), self.capacity));
        }
        let Some(base) = base else {
            return if levels.is_empty() { Ok(()) } else { Err("levels without a window position".into()) };
        };
        let w = self.window() as i64;
        let mut prev = None;
        for &(idx, q) in levels {
            if q <= 0 {
                return Err(format!("quantity {q} at tick index {idx}"));
            }
            if prev.is_some_and(|p| idx <= p) {
                return Err(format!("tick index {idx} not above {}", prev.unwrap_or(0)));
            }
            if !matches!(idx.checked_sub(base), Some(rel) if rel < w) {
                return Err(format!("tick index {idx} in front of the window at {base}"));
            }
            let Some(key) = idx.checked_mul(self.tick) else { return Err(format!("tick index {idx} overflows")) };
            if (self.side == Side::Bid && key <= 0) || (self.side == Side::Ask && key >= 0) {
                return Err(format!("tick index {idx} is not a positive price"));
            }
            prev = Some(idx);
        }
        Ok(())
    }
}

/// Iterator over a ladder's levels from the best outwards: window bits high to low, then the
/// overflow from its best end.
#[derive(Debug, Clone)]
pub struct Levels<'a> {
    ladder: &'a Ladder,
    word: usize,
    mask: u64,
    far: usize,
}

impl Iterator for Levels<'_> {
    type Item = (i64, i64);

    #[inline]
    fn next(&mut self) -> Option<(i64, i64)> {
        let l = self.ladder;
        loop {
            if self.mask != 0 {
                let bit = 63 - self.mask.leading_zeros() as usize;
                self.mask &= !(1 << bit);
                let slot = (self.word << 6) + bit;
                return Some((l.price_of(l.base + slot as i64), l.qty[slot]));
            }
            if l.dense_len > 0 {
                if let Some(w) = l.word_below(self.word) {
                    self.word = w;
                    self.mask = l.bits[w];
                    continue;
                }
                self.word = 0;
            }
            if self.far == 0 {
                return None;
            }
            self.far -= 1;
            let (i, q) = l.far[self.far];
            return Some((l.price_of(i), q));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn bids_and_asks_order_best_first() {
        let mut b = Ladder::with_capacity(Side::Bid, 16);
        let mut a = Ladder::with_capacity(Side::Ask, 16);
        for p in [100, 98, 99, 101] {
            b.set(p, 1).unwrap();
            a.set(p, 1).unwrap();
        }
        assert_eq!(b.best(), Some((101, 1)));
        assert_eq!(a.best(), Some((98, 1)));
        assert_eq!(b.iter().map(|l| l.0).collect::<Vec<_>>(), vec![101, 100, 99, 98]);
        assert_eq!(a.iter().map(|l| l.0).collect::<Vec<_>>(), vec![98, 99, 100, 101]);
    }

    #[test]
    fn errors_leave_state_unchanged() {
        let mut b = Ladder::with_capacity(Side::Bid, 2);
        b.set(10, 1).unwrap();
        b.set(11, 1).unwrap();
        assert_eq!(b.set(12, 1), Err(BookError::CapacityExceeded(2)));
        assert_eq!(b.set(1_000_000_000, 1), Err(BookError::CapacityExceeded(2)));
        assert_eq!(b.set(1, 1), Err(BookError::CapacityExceeded(2)));
        assert_eq!(b.set(0, 1), Err(BookError::NonPositivePrice(0)));
        assert_eq!(b.set(10, -1), Err(BookError::NegativeQuantity(-1)));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![(11, 1), (10, 1)]);
        b.set(10, 5).unwrap();
        b.set(11, 0).unwrap();
        b.set(12, 1).unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![(12, 1), (10, 5)]);
        let mut t = Ladder::new(Side::Ask, 8, 10, 4096);
        assert_eq!(t.set(105, 1), Err(BookError::OffTick(105)));
        assert!(t.is_empty());
    }

    #[test]
    fn far_levels_and_recentering_keep_every_level() {
        // window of 4096 ticks: levels 10x away live in the overflow; a jump of the touch moves
        // the window and pulls levels back in.
        let mut b = Ladder::new(Side::Bid, 64, 1, 4096);
        for p in [60_000, 59_990, 6_000, 600, 59_000, 60_100, 61_000, 5] {
            b.set(p, p / 5).unwrap();
        }
        let want = vec![61_000, 60_100, 60_000, 59_990, 59_000, 6_000, 600, 5];
        assert_eq!(b.iter().map(|l| l.0).collect::<Vec<_>>(), want);
        for p in [61_000, 60_100, 60_000, 59_990] {
            b.set(p, 0).unwrap();
        }
        assert_eq!(b.best(), Some((59_000, 11_800)));
        b.set(59_000, 0).unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![(6_000, 1_200), (600, 120), (5, 1)]);
        assert_eq!(b.qty_at(600), 120);
        assert_eq!(b.sweep(1_300), Some((1_300, 6_000 * 1_200 + 600 * 100)));
    }

    #[test]
    fn load_restores_levels_and_window() {
        for side in [Side::Bid, Side::Ask] {
            let mut a = Ladder::new(side, 64, 10, 4096);
            for p in [600_000, 599_990, 60_000, 6_000, 590_000, 610_000, 50] {
                a.set(p, p / 10).unwrap();
            }
            let mut levels = Vec::new();
            a.for_each_raw(|p, q| levels.push((a.tick_index(p).unwrap(), q)));
            let mut b = Ladder::new(side, 64, 10, 4096);
            b.set(1_000, 1).unwrap();
            b.load(a.window_base(), &levels).unwrap();
            assert_eq!(b.iter().collect::<Vec<_>>(), a.iter().collect::<Vec<_>>());
            assert_eq!(b.window_base(), a.window_base());
            assert_eq!((b.len(), b.best(), b.sweep(100_000)), (a.len(), a.best(), a.sweep(100_000)));
            // same behaviour afterwards
            for (p, q) in [(610_000, 0), (600_010, 5), (40, 1), (620_000, 2)] {
                a.set(p, q).unwrap();
                b.set(p, q).unwrap();
                assert_eq!(b.iter().collect::<Vec<_>>(), a.iter().collect::<Vec<_>>());
            }
            // refused: nothing changes
            let before: Vec<_> = b.iter().collect();
            assert!(b.load(Some(0), &[(5, 1), (5, 2)]).is_err());
            assert!(b.load(None, &[(5, 1)]).is_err());
            assert!(b.load(Some(0), &[(5, 0)]).is_err());
            assert!(b.load(Some(0), &[(4096, 1)]).is_err());
            assert_eq!(b.iter().collect::<Vec<_>>(), before);
            b.load(None, &[]).unwrap();
            assert!(b.is_empty());
        }
    }

    proptest! {
        #[test]
        fn matches_btreemap_model(
            ops in proptest::collection::vec((prop_oneof![1_i64..9_000, 1_i64..1_000_000], 0_i64..4), 1..400),
            window in prop_oneof![Just(4096_usize), Just(8192_usize)],
        ) {
            for side in [Side::Bid, Side::Ask] {
                let mut l = Ladder::new(side, 1024, 1, window);
                let mut m = BTreeMap::new();
                for &(p, q) in &ops {
                    l.set(p, q).unwrap();
                    if q == 0 { m.remove(&p); } else { m.insert(p, q); }
                    let want: Vec<(i64, i64)> = match side {
                        Side::Bid => m.iter().rev().map(|(&p, &q)| (p, q)).collect(),
                        Side::Ask => m.iter().map(|(&p, &q)| (p, q)).collect(),
                    };
                    prop_assert_eq!(l.iter().collect::<Vec<_>>(), want.clone());
                    prop_assert_eq!(l.len(), want.len());
                    prop_assert_eq!(l.best(), want.first().copied());
                    prop_assert_eq!(l.qty_at(p), q);
                }
                for want_qty in [1_i64, 3, 10, 50, 200, 10_000] {
                    let mut left = want_qty;
                    let mut n: i128 = 0;
                    for (p, q) in l.iter() {
                        let take = left.min(q);
                        n += i128::from(p) * i128::from(take);
                        left -= take;
                        if left == 0 { break; }
                    }
                    let expect = if left == 0 { Some((want_qty, n)) } else { None };
                    prop_assert_eq!(l.sweep(want_qty), expect);
                }
                let mut raw = vec![];
                l.for_each_raw(|p, q| raw.push((p, q)));
                let mut asc: Vec<(i64, i64)> = l.iter().collect();
                asc.reverse();
                prop_assert_eq!(raw, asc);
            }
        }

        /// The depth queries and the inverse aggregates equal sums over the levels, for every
        /// bound, through window moves, deletions, far levels and a late `set_inverse`.
        #[test]
        fn depth_queries_match_level_sums(
            ops in proptest::collection::vec((prop_oneof![1_i64..9_000, 1_i64..1_000_000], 0_i64..40), 1..300),
            num in 1_i128..10_000_000_000,
            late in proptest::bool::ANY,
            bounds in proptest::collection::vec(-1_100_000_i64..1_100_000, 1..40),
        ) {
            for side in [Side::Bid, Side::Ask] {
                let mut l = Ladder::new(side, 1024, 1, 4096);
                if !late { l.set_inverse(num); }
                for &(p, q) in &ops {
                    l.set(p, q).unwrap();
                }
                if late { l.set_inverse(num); }
                let levels: Vec<(i64, i64)> = l.iter().map(|(p, q)| (l.tick_index(p).unwrap(), q)).collect();
                let best_idx = levels.first().map(|x| x.0);
                for &b in bounds.iter().chain(best_idx.iter()) {
                    let (mut q, mut n, mut c, mut cn) = (0_i64, 0_i128, 0_i64, 0_i128);
                    for &(i, lq) in levels.iter().filter(|&&(i, _)| i >= b) {
                        q += lq;
                        n += i128::from(i) * i128::from(lq);
                        let cv = (i128::from(lq) * num / i128::from(l.index_price(i))) as i64;
                        c += cv;
                        cn += i128::from(i) * i128::from(cv);
                    }
                    prop_assert_eq!(l.depth_from(b), (q, n), "bound {}", b);
                    prop_assert_eq!(l.qty_from(b), q);
                    prop_assert_eq!(l.inverse_depth_from(b), (c, cn), "bound {}", b);
                    prop_assert_eq!(l.inverse_qty_from(b), c);
                }
                // run-out levels: where the depth from the best first reaches a target
                for target in [1_i64, 7, 40, 300, 5_000, 1_000_000] {
                    let (mut acc, mut acc_c) = (0_i64, 0_i64);
                    let (mut want, mut want_c) = (None, None);
                    for &(i, lq) in &levels {
                        acc += lq;
                        acc_c += (i128::from(lq) * num / i128::from(l.index_price(i))) as i64;
                        if want.is_none() && acc >= target { want = Some(i); }
                        if want_c.is_none() && acc_c >= target { want_c = Some(i); }
                    }
                    prop_assert_eq!(l.run_out_index(target, false), want, "target {}", target);
                    prop_assert_eq!(l.run_out_index(target, true), want_c, "inverse target {}", target);
                }
                l.set_inverse(0);
                prop_assert_eq!(l.run_out_index(1, true), None);
                prop_assert_eq!(l.inverse_depth_from(0), (0, 0));
                l.clear();
                prop_assert_eq!((l.depth_from(i64::MIN), l.sweep(1)), ((0, 0), None));
            }
        }
    }
}
