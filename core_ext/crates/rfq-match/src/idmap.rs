//! Order id → arena slot: open addressing with linear probing, sized once.
//!
//! The table has a power-of-two number of buckets, at least twice the number of orders the
//! book can hold, so the load factor stays ≤ 1/2 and probes are short. Keys are spread by a
//! Fibonacci multiply (sequential ids land in different cache lines); deletion shifts the
//! following cluster back (no tombstones, so a long run never degrades). Nothing allocates
//! after construction.

const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    key: u64,
    slot: u32,
}

/// Fixed-capacity map from order id to arena slot.
#[derive(Debug, Clone)]
pub(crate) struct IdMap {
    buckets: Box<[Bucket]>,
    mask: usize,
    shift: u32,
}

impl IdMap {
    /// A map for up to `capacity` keys.
    pub(crate) fn new(capacity: usize) -> Self {
        let n = (capacity.max(8) * 2).next_power_of_two();
        IdMap {
            buckets: vec![Bucket { key: 0, slot: EMPTY }; n].into_boxed_slice(),
            mask: n - 1,
            shift: 64 - n.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Slot of `key`, if present.
    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let b = self.buckets[i];
            if b.slot == EMPTY {
                return None;
            }
            if b.key == key {
                return Some(b.slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Insert a key known to be absent (the caller checked; capacity is the caller's bound).
    #[inline]
    pub(crate) fn insert(&mut self, key: u64, slot: u32) {
        let mut i = self.home(key);
        while self.buckets[i].slot != EMPTY {
            debug_assert!(self.buckets[i].key != key, "duplicate id in IdMap");
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = Bucket { key, slot };
    }

    /// Remove a key known to be present.
    #[inline]
    pub(crate) fn remove(&mut self, key: u64) {
        let mut i = self.home(key);
        while self.buckets[i].key != key || self.buckets[i].slot == EMPTY {
            debug_assert!(self.buckets[i].slot != EMPTY, "removing an absent id");
            i = (i + 1) & self.mask;
        }
        // Backward-shift deletion: pull later members of the cluster into the hole when their
        // home position does not lie (cyclically) between the hole and them.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let b = self.buckets[j];
            if b.slot == EMPTY {
                break;
            }
            let home = self.home(b.key);
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole].slot = EMPTY;
    }
}

#[cfg(test)]
mod tests {
    use super::IdMap;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn behaves_like_a_hashmap(ops in proptest::collection::vec((0_u64..64, any::<bool>()), 1..2000)) {
            let mut m = IdMap::new(64);
            let mut r: HashMap<u64, u32> = HashMap::new();
            for (n, (k, ins)) in ops.into_iter().enumerate() {
                // keys collide on purpose: multiples of 2^58 share a home bucket
                let key = k.wrapping_mul(1 << 58) ^ (k & 3);
                if ins {
                    if let std::collections::hash_map::Entry::Vacant(e) = r.entry(key) {
                        m.insert(key, n as u32);
                        e.insert(n as u32);
                    }
                } else if r.remove(&key).is_some() {
                    m.remove(key);
                }
                for (&rk, &rv) in &r {
                    prop_assert_eq!(m.get(rk), Some(rv));
                }
                prop_assert_eq!(m.get(key), r.get(&key).copied());
            }
        }
    }
}
