//! One side of an L2 book.

use crate::error::BookError;
use rfq_model::Side;

/// How many levels from the top are scanned linearly before falling back to binary search.
const TOP_SCAN: usize = 8;

/// One side of a book: levels sorted by *key* ascending, best level last.
///
/// The key is the price for bids and the negated price for asks, so "better" is always
/// "larger key" and one code path serves both sides.
#[derive(Debug, Clone)]
pub struct Ladder {
    side: Side,
    keys: Vec<i64>,
    qtys: Vec<i64>,
    capacity: usize,
}

impl Ladder {
    /// An empty ladder that can hold `capacity` levels without ever allocating again.
    pub fn with_capacity(side: Side, capacity: usize) -> Self {
        Ladder { side, keys: Vec::with_capacity(capacity), qtys: Vec::with_capacity(capacity), capacity }
    }

    /// Which side this ladder is.
    #[inline]
    pub fn side(&self) -> Side {
        self.side
    }

    /// Number of levels.
    #[inline]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no levels.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fixed capacity in levels.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    #[inline]
    fn key(&self, price: i64) -> i64 {
        match self.side {
            Side::Bid => price,
            Side::Ask => -price,
        }
    }

    #[inline]
    fn price(&self, key: i64) -> i64 {
        match self.side {
            Side::Bid => key,
            Side::Ask => -key,
        }
    }

    /// `Ok(index)` of `key`, or `Err(insertion index)`.
    #[inline]
    fn find(&self, key: i64) -> Result<usize, usize> {
        let keys = &self.keys[..];
        let n = keys.len();
        let floor = n.saturating_sub(TOP_SCAN);
        let mut i = n;
        while i > floor {
            let k = keys[i - 1];
            if k == key {
                return Ok(i - 1);
            }
            if k < key {
                return Err(i);
            }
            i -= 1;
        }
        keys[..floor].binary_search(&key)
    }

    /// Set the level at `price` to `qty` (0 deletes it; deleting an absent level is a no-op).
    ///
    /// Never allocates. Returns an error, leaving the ladder unchanged, for a non-positive
    /// price, a negative quantity, or an insert into a full ladder.
    #[inline]
    pub fn set(&mut self, price: i64, qty: i64) -> Result<(), BookError> {
        if price <= 0 {
            return Err(BookError::NonPositivePrice(price));
        }
        if qty < 0 {
            return Err(BookError::NegativeQuantity(qty));
        }
        let key = self.key(price);
        match self.find(key) {
            Ok(i) => {
                if qty == 0 {
                    self.keys.remove(i);
                    self.qtys.remove(i);
                } else {
                    self.qtys[i] = qty;
                }
            }
            Err(i) => {
                if qty != 0 {
                    if self.keys.len() == self.capacity {
                        return Err(BookError::CapacityExceeded(self.capacity));
                    }
                    self.keys.insert(i, key);
                    self.qtys.insert(i, qty);
                }
            }
        }
        Ok(())
    }

    /// Remove every level (keeps the capacity).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.qtys.clear();
    }

    /// Best level `(price, qty)`.
    #[inline]
    pub fn best(&self) -> Option<(i64, i64)> {
        let n = self.keys.len();
        if n == 0 {
            None
        } else {
            Some((self.price(self.keys[n - 1]), self.qtys[n - 1]))
        }
    }

    /// The `i`-th level from the best (0 = best), `(price, qty)`.
    #[inline]
    pub fn level(&self, i: usize) -> Option<(i64, i64)> {
        let n = self.keys.len();
        if i >= n {
            None
        } else {
            Some((self.price(self.keys[n - 1 - i]), self.qtys[n - 1 - i]))
        }
    }

    /// Quantity resting at `price` (0 if none).
    pub fn qty_at(&self, price: i64) -> i64 {
        match self.find(self.key(price)) {
            Ok(i) => self.qtys[i],
            Err(_) => 0,
        }
    }

    /// Levels from the best outwards, `(price, qty)`.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.keys.iter().rev().zip(self.qtys.iter().rev()).map(move |(&k, &q)| (self.price(k), q))
    }

    /// Take `qty` from the best level outwards: `Some((qty, notional))` with notional in
    /// price-units × qty-units (exact, `i128`), or `None` if the ladder holds less than `qty`.
    #[inline]
    pub fn sweep(&self, qty: i64) -> Option<(i64, i128)> {
        if qty <= 0 {
            return Some((0, 0));
        }
        let mut left = qty;
        let mut notional: i128 = 0;
        for i in (0..self.keys.len()).rev() {
            let take = left.min(self.qtys[i]);
            notional += i128::from(self.price(self.keys[i])) * i128::from(take);
            left -= take;
            if left == 0 {
                return Some((qty, notional));
            }
        }
        None
    }

    /// Feed `(price, qty)` pairs of every level to `f` in key order (for hashing/snapshots).
    pub fn for_each_raw(&self, mut f: impl FnMut(i64, i64)) {
        for (&k, &q) in self.keys.iter().zip(self.qtys.iter()) {
            f(self.price(k), q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn bids_and_asks_order_best_last() {
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
        assert_eq!(b.set(0, 1), Err(BookError::NonPositivePrice(0)));
        assert_eq!(b.set(10, -1), Err(BookError::NegativeQuantity(-1)));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![(11, 1), (10, 1)]);
        // updating or deleting existing levels still works when full
        b.set(10, 5).unwrap();
        b.set(11, 0).unwrap();
        b.set(12, 1).unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![(12, 1), (10, 5)]);
    }

    proptest! {
        #[test]
        fn matches_btreemap_model(ops in proptest::collection::vec((1_i64..200, 0_i64..4, any::<bool>()), 1..400)) {
            for side in [Side::Bid, Side::Ask] {
                let mut l = Ladder::with_capacity(side, 1024);
                let mut m = BTreeMap::new();
                for &(p, q, _) in &ops {
                    l.set(p, q).unwrap();
                    if q == 0 { m.remove(&p); } else { m.insert(p, q); }
                    let want: Vec<(i64, i64)> = match side {
                        Side::Bid => m.iter().rev().map(|(&p, &q)| (p, q)).collect(),
                        Side::Ask => m.iter().map(|(&p, &q)| (p, q)).collect(),
                    };
                    prop_assert_eq!(l.iter().collect::<Vec<_>>(), want);
                }
            }
        }
    }
}
