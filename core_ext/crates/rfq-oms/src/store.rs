//! Bounded, preallocated storage of the OMS: a sorted map in one vector reserved at its bound
//! ([`SortedMap`]) and a bit set of venues ([`VenueSet`]). Nothing here allocates after
//! construction (an insert into a full map is refused by the caller's checks, never grown),
//! and iteration is in key order, so the OMS stays deterministic.

/// A map kept as a vector of `(key, value)` sorted by key, reserved at `cap` entries. Keys
/// that arrive in increasing order (client order ids, most exec ids) are appended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SortedMap<K, V> {
    items: Vec<(K, V)>,
    cap: usize,
}

impl<K: Ord + Copy, V> SortedMap<K, V> {
    /// An empty map with room for `cap` entries.
    pub fn with_capacity(cap: usize) -> Self {
        SortedMap { items: Vec::with_capacity(cap), cap }
    }

    /// The bound.
    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No room for a new key.
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.cap
    }

    fn find(&self, k: &K) -> Result<usize, usize> {
        match self.items.last() {
            Some((last, _)) if last < k => Err(self.items.len()),
            _ => self.items.binary_search_by(|(x, _)| x.cmp(k)),
        }
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.items[i].1)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.find(k).ok().map(|i| &mut self.items[i].1)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    /// Insert or replace. A new key needs room: the caller checks [`Self::is_full`] first
    /// (a full map is a bug here, not a reallocation).
    pub fn insert(&mut self, k: K, v: V) {
        match self.find(&k) {
            Ok(i) => self.items[i].1 = v,
            Err(i) => {
                assert!(self.items.len() < self.cap, "OMS storage full: checked by the caller");
                self.items.insert(i, (k, v));
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.items.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.items.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.iter().map(|(_, v)| v)
    }

    /// Keep the entries `keep` accepts (in place, order kept).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.items.retain(|(k, v)| keep(k, v));
    }
}

impl<K: Ord + Copy, V> std::ops::Index<&K> for SortedMap<K, V> {
    type Output = V;
    fn index(&self, k: &K) -> &V {
        self.get(k).expect("key present")
    }
}

/// A clone keeps the reserved room (a derived `Vec` clone would shrink it to the length).
impl<K: Clone, V: Clone> Clone for SortedMap<K, V> {
    fn clone(&self) -> Self {
        let mut items = Vec::with_capacity(self.cap.max(self.items.len()));
        items.extend(self.items.iter().cloned());
        SortedMap { items, cap: self.cap }
    }
}

/// A set of venue ids: one bit per possible id (8 KiB), never allocating after construction.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct VenueSet(Box<[u64; 1024]>);

impl VenueSet {
    pub fn new() -> Self {
        VenueSet(Box::new([0; 1024]))
    }

    pub fn contains(&self, v: u16) -> bool {
        self.0[usize::from(v / 64)] & 1 << (v % 64) != 0
    }

    pub fn insert(&mut self, v: u16) {
        self.0[usize::from(v / 64)] |= 1 << (v % 64);
    }

    pub fn remove(&mut self, v: u16) {
        self.0[usize::from(v / 64)] &= !(1 << (v % 64));
    }

    /// The venues in the set, ascending: word by word, each word's set bits by
    /// `trailing_zeros` (not a test of all 65,536 ids: the core encodes the OMS for every
    /// state hash).
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().filter(|(_, &w)| w != 0).flat_map(|(i, &w)| {
            let mut bits = w;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    (i * 64) as u16 + b as u16
                })
            })
        })
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl std::fmt::Debug for VenueSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_set_iterates_its_members_ascending() {
        let mut s = VenueSet::new();
        for v in [65_535, 0, 64, 63, 1, 4_097, 128] {
            s.insert(v);
        }
        s.remove(128);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 1, 63, 64, 4_097, 65_535]);
        assert_eq!(s.len(), 6);
        assert!(s.contains(4_097) && !s.contains(128));
        assert_eq!(VenueSet::new().iter().count(), 0);
    }

    #[test]
    fn sorted_map_in_and_out_of_order() {
        let mut m = SortedMap::with_capacity(4);
        for k in [5_u64, 9, 1, 7] {
            m.insert(k, k * 10);
        }
        assert!(m.is_full());
        m.insert(9, 0); // replacing needs no room
        assert_eq!(m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), vec![(1, 10), (5, 50), (7, 70), (9, 0)]);
        assert_eq!((m.get(&7), m.get(&8), m[&5]), (Some(&70), None, 50));
        m.retain(|k, _| *k > 5);
        assert_eq!(m.len(), 2);
        let c = m.clone();
        assert_eq!((c.cap(), c.items.capacity() >= 4), (4, true));
        let mut s = VenueSet::new();
        s.insert(3);
        s.insert(65_535);
        assert!(s.contains(3) && !s.contains(4));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![3, 65_535]);
        s.remove(3);
        assert_eq!(s.len(), 1);
    }
}
