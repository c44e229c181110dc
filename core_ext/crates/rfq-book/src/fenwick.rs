//! A Fenwick (binary indexed) tree of sums: point add and prefix sum in O(log n), and a
//! descent that finds where a running total reaches a target, also in O(log n).
//!
//! A [`crate::Ladder`] keeps one per aggregate (quantity, tick index × quantity, …) over its
//! 64-tick bitmap words, so a sweep of any size costs O(log words) instead of a walk over the
//! words it covers. The size is fixed at construction (a power of two, so the descent needs no
//! bounds juggling); nothing allocates afterwards.

use std::ops::{AddAssign, Sub};

/// A value a [`Fenwick`] can sum: `i64` quantities or `i128` notionals.
pub trait Sum: Copy + Default + AddAssign + Sub<Output = Self> + PartialOrd {}
impl Sum for i64 {}
impl Sum for i128 {}

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

impl Fenwick<i64> {
    /// The longest prefix whose sum stays below `target`, for non-negative values:
    /// `(k, prefix(k))` with `prefix(k) < target` and, when `k < len`, `prefix(k + 1) ≥ target`.
    /// `visit(node)` is called with each tree node the descent adds, so a parallel tree over
    /// the same positions can accumulate the same prefix (see [`Fenwick::node`]).
    #[inline]
    pub fn descend(&self, target: i64, mut visit: impl FnMut(usize)) -> (usize, i64) {
        let n = self.len();
        let mut pos = 0;
        let mut sum = 0_i64;
        let mut step = n;
        while step > 0 {
            let next = pos + step;
            if next <= n && sum + self.tree[next] < target {
                pos = next;
                sum += self.tree[next];
                visit(next);
            }
            step >>= 1;
        }
        (pos, sum)
    }
}

impl<T: Sum> Fenwick<T> {
    /// Tree node `i` (1-based), as [`Fenwick::descend`] reports them.
    #[inline]
    pub fn node(&self, i: usize) -> T {
        self.tree[i]
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
            let mut g = Fenwick::<i128>::new(100);
            let mut plain = vec![0_i64; f.len()];
            for &(p, v) in &ops {
                f.add(p, v);
                g.add(p, i128::from(v) * 7);
                plain[p] += v;
            }
            for end in 0..=f.len() {
                let want: i64 = plain[..end].iter().sum();
                prop_assert_eq!(f.prefix(end), want);
                prop_assert_eq!(g.prefix(end), i128::from(want) * 7);
            }
            for t in targets {
                let mut n = 0_i128;
                let (k, s) = f.descend(t, |i| n += g.node(i));
                let want: i64 = plain[..k].iter().sum();
                prop_assert_eq!(s, want);
                prop_assert_eq!(n, i128::from(want) * 7);
                prop_assert!(s < t || t <= 0);
                if k < f.len() {
                    prop_assert!(s + plain[k] >= t);
                }
            }
        }
    }

    #[test]
    fn clear_and_removals() {
        let mut f = Fenwick::<i64>::new(8);
        f.add(3, 5);
        f.add(7, 2);
        f.add(3, -5);
        assert_eq!(f.prefix(8), 2);
        assert_eq!(f.descend(2, |_| {}), (7, 0));
        f.clear();
        assert_eq!(f.prefix(8), 0);
        assert_eq!(f.descend(1, |_| {}), (8, 0)); // never reached: everything is below
    }
}
