//! One side's price levels: a dense array over the book's price band, one slot per tick, with
//! a two-level occupancy bitmap.
//!
//! A slot holds the level's queue (head and tail of an intrusive list of arena slots) and its
//! total quantity. Finding a level is an index computation; the best level is cached, and when
//! it empties the next one is found by scanning the bitmap (one bit per tick, one summary bit
//! per non-empty 64-tick word), so even a sparse side costs a few word reads.
//!
//! Tick index `t` = `(price - min_price) / tick` on both sides: bids are better when `t` is
//! larger, asks when it is smaller.

/// "No node / no level".
pub(crate) const NIL: u32 = u32::MAX;

/// One price level: an intrusive FIFO of arena slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Level {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) qty: i64,
}

const EMPTY_LEVEL: Level = Level { head: NIL, tail: NIL, qty: 0 };

/// Levels of one side.
#[cfg(not(feature = "sorted-levels"))]
#[derive(Debug, Clone)]
pub(crate) struct SideLevels {
    levels: Box<[Level]>,
    bits: Box<[u64]>,
    summary: Box<[u64]>,
    /// Best occupied tick index, `NIL` when the side is empty.
    pub(crate) best: u32,
    /// Number of occupied levels.
    pub(crate) count: u32,
    is_bid: bool,
}

#[cfg(not(feature = "sorted-levels"))]
impl SideLevels {
    pub(crate) fn new(ticks: usize, _max_levels: usize, is_bid: bool) -> Self {
        let words = ticks.div_ceil(64);
        SideLevels {
            levels: vec![EMPTY_LEVEL; ticks].into_boxed_slice(),
            bits: vec![0; words].into_boxed_slice(),
            summary: vec![0; words.div_ceil(64)].into_boxed_slice(),
            best: NIL,
            count: 0,
            is_bid,
        }
    }

    /// True when `a` is a better price than `b` on this side.
    #[inline]
    pub(crate) fn better(&self, a: u32, b: u32) -> bool {
        if self.is_bid {
            a > b
        } else {
            a < b
        }
    }

    /// The level at tick `t` (must be occupied, or be read as empty).
    #[inline]
    pub(crate) fn get(&self, t: u32) -> &Level {
        &self.levels[t as usize]
    }

    /// The level at tick `t`, to change (must be occupied).
    #[inline]
    pub(crate) fn get_mut(&mut self, t: u32) -> &mut Level {
        &mut self.levels[t as usize]
    }

    /// The level at tick `t`, occupied first if it was empty (the caller links an order in).
    #[inline]
    pub(crate) fn entry(&mut self, t: u32) -> &mut Level {
        if self.levels[t as usize].head == NIL {
            self.occupy(t);
        }
        &mut self.levels[t as usize]
    }

    /// Mark tick `t` occupied (its queue just got its first order).
    #[inline]
    fn occupy(&mut self, t: u32) {
        let w = (t >> 6) as usize;
        self.bits[w] |= 1 << (t & 63);
        self.summary[w >> 6] |= 1 << (w & 63);
        self.count += 1;
        if self.best == NIL || self.better(t, self.best) {
            self.best = t;
        }
    }

    /// Mark tick `t` empty (its queue just lost its last order).
    #[inline]
    pub(crate) fn vacate(&mut self, t: u32) {
        self.levels[t as usize] = EMPTY_LEVEL;
        let w = (t >> 6) as usize;
        self.bits[w] &= !(1 << (t & 63));
        if self.bits[w] == 0 {
            self.summary[w >> 6] &= !(1 << (w & 63));
        }
        self.count -= 1;
        if t == self.best {
            self.best = self.next_worse(t);
        }
    }

    /// The next occupied level strictly worse than `t`, or `NIL`.
    #[inline]
    pub(crate) fn next_worse(&self, t: u32) -> u32 {
        if self.is_bid {
            if t == 0 {
                NIL
            } else {
                self.scan_down(t - 1)
            }
        } else {
            self.scan_up(t + 1)
        }
    }

    /// Highest occupied tick ≤ `t`.
    fn scan_down(&self, t: u32) -> u32 {
        let w = (t >> 6) as usize;
        let m = self.bits[w] & (u64::MAX >> (63 - (t & 63)));
        if m != 0 {
            return ((w as u32) << 6) + 63 - m.leading_zeros();
        }
        if w == 0 {
            return NIL;
        }
        let top = w - 1;
        let mut sw = top >> 6;
        let mut sm = self.summary[sw] & (u64::MAX >> (63 - (top & 63)));
        loop {
            if sm != 0 {
                let w = (sw << 6) + 63 - sm.leading_zeros() as usize;
                return ((w as u32) << 6) + 63 - self.bits[w].leading_zeros();
            }
            if sw == 0 {
                return NIL;
            }
            sw -= 1;
            sm = self.summary[sw];
        }
    }

    /// Lowest occupied tick ≥ `t`.
    fn scan_up(&self, t: u32) -> u32 {
        let w = (t >> 6) as usize;
        if w >= self.bits.len() {
            return NIL;
        }
        let m = self.bits[w] & (u64::MAX << (t & 63));
        if m != 0 {
            return ((w as u32) << 6) + m.trailing_zeros();
        }
        let start = w + 1;
        let mut sw = start >> 6;
        if sw >= self.summary.len() {
            return NIL;
        }
        let mut sm = self.summary[sw] & (u64::MAX << (start & 63));
        loop {
            if sm != 0 {
                let w = (sw << 6) + sm.trailing_zeros() as usize;
                return ((w as u32) << 6) + self.bits[w].trailing_zeros();
            }
            sw += 1;
            if sw >= self.summary.len() {
                return NIL;
            }
            sm = self.summary[sw];
        }
    }
}

/// Measurement-only alternative (feature `sorted-levels`): the occupied levels of a side in a
/// sorted array, best last (so inserts and deletes near the touch move few entries), found by
/// binary search. No band-sized memory; O(levels) inserts/deletes. See `docs/matching.md`.
#[cfg(feature = "sorted-levels")]
#[derive(Debug, Clone)]
pub(crate) struct SideLevels {
    /// Keys (tick for bids, !tick for asks) ascending: the best level is last.
    keys: Vec<u32>,
    levels: Vec<Level>,
    pub(crate) best: u32,
    pub(crate) count: u32,
    is_bid: bool,
}

#[cfg(feature = "sorted-levels")]
impl SideLevels {
    pub(crate) fn new(_ticks: usize, max_levels: usize, is_bid: bool) -> Self {
        SideLevels {
            keys: Vec::with_capacity(max_levels),
            levels: Vec::with_capacity(max_levels),
            best: NIL,
            count: 0,
            is_bid,
        }
    }

    #[inline]
    fn key(&self, t: u32) -> u32 {
        if self.is_bid {
            t
        } else {
            !t
        }
    }

    #[inline]
    fn find(&self, t: u32) -> Result<usize, usize> {
        let k = self.key(t);
        // search from the best end: most activity is near the touch
        self.keys.binary_search(&k)
    }

    #[inline]
    pub(crate) fn get(&self, t: u32) -> &Level {
        match self.find(t) {
            Ok(i) => &self.levels[i],
            Err(_) => &EMPTY_LEVEL,
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, t: u32) -> &mut Level {
        let i = self.find(t).expect("level exists");
        &mut self.levels[i]
    }

    #[inline]
    pub(crate) fn entry(&mut self, t: u32) -> &mut Level {
        let i = match self.find(t) {
            Ok(i) => i,
            Err(i) => {
                self.keys.insert(i, self.key(t));
                self.levels.insert(i, EMPTY_LEVEL);
                self.count += 1;
                if i == self.keys.len() - 1 {
                    self.best = t;
                }
                i
            }
        };
        &mut self.levels[i]
    }

    #[inline]
    pub(crate) fn vacate(&mut self, t: u32) {
        let i = self.find(t).expect("level exists");
        self.keys.remove(i);
        self.levels.remove(i);
        self.count -= 1;
        if t == self.best {
            self.best = self.keys.last().map_or(NIL, |&k| self.key(k));
        }
    }

    #[inline]
    pub(crate) fn next_worse(&self, t: u32) -> u32 {
        let i = match self.find(t) {
            Ok(i) | Err(i) => i,
        };
        if i == 0 {
            NIL
        } else {
            self.key(self.keys[i - 1])
        }
    }
}

#[cfg(all(test, not(feature = "sorted-levels")))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn best_and_next_match_a_set(ops in proptest::collection::vec((0_u32..9000, any::<bool>()), 1..400), bid in any::<bool>()) {
            let mut s = SideLevels::new(9000, 9000, bid);
            let mut r = BTreeSet::new();
            for (t, add) in ops {
                if add && r.insert(t) {
                    s.entry(t).head = 0;
                } else if !add && r.remove(&t) {
                    s.vacate(t);
                }
                let best = if bid { r.iter().next_back() } else { r.iter().next() };
                prop_assert_eq!(s.best, best.copied().unwrap_or(NIL));
                // walk best → worst
                let mut walk = vec![];
                let mut t = s.best;
                while t != NIL { walk.push(t); t = s.next_worse(t); }
                let expect: Vec<u32> = if bid { r.iter().rev().copied().collect() } else { r.iter().copied().collect() };
                prop_assert_eq!(walk, expect);
            }
        }
    }
}
