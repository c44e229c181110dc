//! A Fenwick (binary indexed) tree of sums: point add and prefix sum in O(log n), and a
//! descent that finds where a running total reaches a target, also in O(log n).
//!
//! A [`crate::Ladder`] keeps one per aggregate (quantity, tick index × quantity, …) over its
//! 64-tick bitmap words, so a sweep of any size costs O(log words) instead of a walk over the
//! words it covers. The size is fixed at construction (a power of two, so the descent needs no
//! bounds juggling); nothing allocates afterwards.

use std::ops::{AddAssign, Sub};

/// A value a [`Fenwick`] can sum: `i64` quantities, `i128` notionals, or both at once.
pub trait Sum: Copy + Default + AddAssign + Sub<Output = Self> {}
impl Sum for i64 {}
impl Sum for i128 {}
impl Sum for Agg {}

/// A quantity and its notional (Σ qty, Σ tick index × qty) summed together: one tree node holds
/// both, so an update or a query touches one cache line per level instead of one per aggregate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agg {
    /// Σ quantity.
    pub q: i64,
    /// Σ tick index × quantity.
    pub n: i128,
}

impl AddAssign for Agg {
    #[inline]
    fn add_assign(&mut self, o: Agg) {
        self.q += o.q;
        self.n += o.n;
    }
}

impl Sub for Agg {
    type Output = Agg;
    #[inline]
    fn sub(self, o: Agg) -> Agg {
        Agg { q: self.q - o.q, n: self.n - o.n }
    }
}

/// Fenwick tree over positions `0..len` (`len` a power of two).
#[derive(Debug, Clone)]
pub struct Fenwick<T> {
    /// 1-based: `tree[i]` holds the sum of positions `i - lowbit(i) .. i` (0-based, half-open).
    tree: Box<[T]>,
}

impl<T: Sum> Fenwick<T> {
    /// All zero, over `len` positions (rounded up to a power of two).
    pub fn new(len: usize) -> Self {
        Fenwick { tree: vec![T::default(); len.max(1).next_power_of_two() + 1].into_boxed_slice() }
    }

    /// Number of positions.
    #[inline]
    pub fn len(&self) -> usize {
        self.tree.len() - 1
    }

    /// Always false (a tree has at least one position); for clippy's `len` convention.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Add `delta` at position `pos`.
    #[inline]
    pub fn add(&mut self, pos: usize, delta: T) {
        let n = self.len();
        let mut i = pos + 1;
        while i <= n {
            self.tree[i] += delta;
            i += i & i.wrapping_neg();
        }
    }

    /// Sum of positions `0..end`.
    #[inline]
    pub fn prefix(&self, end: usize) -> T {
        let mut s = T::default();
        let mut i = end.min(self.len());
        while i > 0 {
            s += self.tree[i];
            i &= i - 1;
        }
        s
    }

    /// Every position back to zero.
    pub fn clear(&mut self) {
        self.tree.fill(T::default());
    }
}

impl Fenwick<Agg> {
    /// The longest prefix whose quantity stays below `target`, for non-negative quantities:
    /// `(k, prefix(k))` with `prefix(k).q < target` and, when `k < len`,
    /// `prefix(k + 1).q ≥ target`.
    #[inline]
    pub fn descend(&self, target: i64) -> (usize, Agg) {
        let n = self.len();
        let mut pos = 0;
        let mut sum = Agg::default();
        let mut step = n;
        while step > 0 {
            let next = pos + step;
            if next <= n && sum.q + self.tree[next].q < target {
                pos = next;
                sum += self.tree[next];
            }
            step >>= 1;
        }
        (pos, sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_plain_sums(
            ops in proptest::collection::vec((0_usize..100, 0_i64..1000), 1..200),
            targets in proptest::collection::vec(0_i64..60_000, 1..20),
        ) {
            let mut f = Fenwick::<i64>::new(100);
            let mut g = Fenwick::<Agg>::new(100);
            let mut plain = vec![0_i64; f.len()];
            for &(p, v) in &ops {
                f.add(p, v);
                g.add(p, Agg { q: v, n: i128::from(v) * 7 });
                plain[p] += v;
            }
            for end in 0..=f.len() {
                let want: i64 = plain[..end].iter().sum();
                prop_assert_eq!(f.prefix(end), want);
                prop_assert_eq!(g.prefix(end), Agg { q: want, n: i128::from(want) * 7 });
            }
            for t in targets {
                let (k, s) = g.descend(t);
                let want: i64 = plain[..k].iter().sum();
                prop_assert_eq!(s, Agg { q: want, n: i128::from(want) * 7 });
                let s = s.q;
                prop_assert!(s < t || t <= 0);
                if k < f.len() {
                    prop_assert!(s + plain[k] >= t);
                }
            }
        }
    }

    #[test]
    fn clear_and_removals() {
        let mut f = Fenwick::<Agg>::new(8);
        let a = |q: i64| Agg { q, n: i128::from(q) };
        f.add(3, a(5));
        f.add(7, a(2));
        f.add(3, a(-5));
        assert_eq!(f.prefix(8), a(2));
        assert_eq!(f.descend(2), (7, a(0)));
        f.clear();
        assert_eq!(f.prefix(8), a(0));
        assert_eq!(f.descend(1), (8, a(0))); // never reached: everything is below
    }
}
