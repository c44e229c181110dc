//! The set of client RFQ ids already consumed (`DUPLICATE_ID`, docs/rfq-protocol.md).
//!
//! Exact set of `(client, id)` pairs (client RFQ ids are arbitrary `u64`s, unique per client,
//! not necessarily increasing), built for locality: ids are grouped in **blocks of 64
//! consecutive ids** (`id >> 6`), and one open-addressing slot holds a block's full key
//! (client, block number) and a 64-bit bitmap of its ids. Clients that number their RFQs
//! sequentially (the usual case) hit the same slot 64 times in a row, so a lookup is an L1/L2
//! hit instead of a cache miss into a table of tens of MB; arbitrary ids cost one slot each,
//! as a plain hash set would.
//!
//! A block's home slot keeps a client's consecutive blocks next to each other: a splitmix64
//! hash of (client, block / 64) places a **group of 64 blocks** (4,096 ids), and the block's
//! offset in its group is added to it. A sequential client's next block is therefore the next
//! slot (the next cache line at most, on the same page as a rule), not a random place in the
//! table: with a plain hash of the block, the first RFQ of every 64th id took a cache and TLB
//! miss of ~400 ns, which set the p99 of RFQ pricing (bench/RESULTS.md). Arbitrary ids fall in
//! groups of their own, hashed as before. Linear probing from the home slot; nothing is ever
//! removed (a consumed id stays consumed), so there are no tombstones and an empty slot
//! (bitmap 0) ends a probe. Keys are stored whole, so the set has no false positives.
//!
//! **Capacity policy.** The table is allocated at construction for [`DEDUP_RESERVE`] blocks
//! (`2 ×` that many slots, 24 bytes each, touched by [`DedupSet::prefault`]) and never
//! allocates while its load stays at or below 1/2: that is at least `DEDUP_RESERVE` RFQs with
//! arbitrary ids, or 64 × as many with sequential ones. Past that it doubles (one allocation
//! and a rehash, a one-off pause of milliseconds on the core thread) — the only allocation,
//! and it keeps the set exact rather than refusing ids.

/// Blocks of 64 ids the set holds without growing (see the module docs).
pub const DEDUP_RESERVE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
struct Slot {
    /// `id >> 6`.
    block: u64,
    /// Bit `id & 63` set = that id is in the set; 0 = empty slot.
    bits: u64,
    client: u16,
}

const EMPTY: Slot = Slot { block: 0, bits: 0, client: 0 };

/// An exact set of `(client, id)` pairs; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct DedupSet {
    slots: Vec<Slot>,
    /// `slots.len() - 1` (a power of two minus one).
    mask: usize,
    /// Occupied slots (blocks).
    blocks: usize,
    /// Ids in the set.
    len: usize,
    /// Σ [`id_digest`] of the ids in the set (wrapping): the set's content in 8 bytes, kept
    /// on every insert, for the state hash (which must not walk the whole table).
    digest: u64,
}

/// One id's share of [`DedupSet`]'s content digest (splitmix64 of the pair: the sum over a
/// set does not depend on insertion order or table layout).
#[inline]
fn id_digest(client: u16, id: u64) -> u64 {
    let mut z = id.wrapping_add(u64::from(client).wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// log2 of the blocks of one client kept in consecutive slots (see the module docs).
const GROUP_BITS: u32 = 6;

/// The home slot of `(client, block)` in a table of `mask + 1` slots.
#[inline]
fn home(client: u16, block: u64, mask: usize) -> usize {
    hash(client, block >> GROUP_BITS).wrapping_add(block & ((1 << GROUP_BITS) - 1)) as usize & mask
}

#[inline]
fn hash(client: u16, block: u64) -> u64 {
    // splitmix64 finaliser over the block number mixed with the client (distribution only:
    // keys are stored whole, so collisions cost a probe, never a false duplicate)
    let mut z = block ^ u64::from(client).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl DedupSet {
    /// An empty set holding `blocks` blocks of 64 ids before it grows.
    pub fn with_blocks(blocks: usize) -> Self {
        let n = (blocks.max(8) * 2).next_power_of_two();
        DedupSet { slots: vec![EMPTY; n], mask: n - 1, blocks: 0, len: 0, digest: 0 }
    }

    /// Ids in the set.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Table slots (a power of two).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Occupied slots `(slot index, client, block, bits)` in table order (for snapshots; the
    /// exact table layout is kept, so probing after a restore is the same).
    pub fn occupied(&self) -> impl Iterator<Item = (usize, u16, u64, u64)> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.bits != 0).map(|(i, s)| (i, s.client, s.block, s.bits))
    }

    /// Replaces the content by a table of `slot_count` slots holding `occupied` (as
    /// [`DedupSet::occupied`] gave them). `Err` (set unchanged) on an impossible table.
    pub fn load(&mut self, slot_count: usize, occupied: &[(usize, u16, u64, u64)]) -> Result<(), String> {
        if !slot_count.is_power_of_two() || occupied.len() * 2 > slot_count {
            return Err(format!("dedup table of {slot_count} slots holding {} blocks", occupied.len()));
        }
        if occupied.windows(2).any(|w| w[1].0 <= w[0].0) || occupied.last().is_some_and(|o| o.0 >= slot_count) || occupied.iter().any(|o| o.3 == 0) {
            return Err("dedup slots out of order, out of range or empty".into());
        }
        if slot_count == self.slots.len() {
            if self.blocks != 0 {
                self.slots.iter_mut().for_each(|s| *s = EMPTY);
            }
        } else {
            self.slots = vec![EMPTY; slot_count];
        }
        self.mask = slot_count - 1;
        let (mut len, mut digest) = (0, 0_u64);
        for &(i, client, block, bits) in occupied {
            self.slots[i] = Slot { block, bits, client };
            len += bits.count_ones() as usize;
            let mut b = bits;
            while b != 0 {
                digest = digest.wrapping_add(id_digest(client, block << 6 | u64::from(b.trailing_zeros())));
                b &= b - 1;
            }
        }
        self.blocks = occupied.len();
        self.len = len;
        self.digest = digest;
        // every key must be found where it is (the probe sequence from its home reaches it);
        // a table saved before blocks were grouped (home = the block's own hash) is laid out
        // again: the same keys, each placed from its home today
        if occupied.iter().all(|&(i, client, block, _)| self.find(client, block) == Ok(i)) {
            return Ok(());
        }
        self.slots.iter_mut().for_each(|s| *s = EMPTY);
        for &(i, client, block, bits) in occupied {
            match self.find(client, block) {
                Err(at) => self.slots[at] = Slot { block, bits, client },
                Ok(_) => {
                    self.slots.iter_mut().for_each(|s| *s = EMPTY);
                    self.blocks = 0;
                    self.len = 0;
                    self.digest = 0;
                    return Err(format!("dedup key in slot {i} appears twice"));
                }
            }
        }
        Ok(())
    }

    /// Slot of the block of `(client, id)`: `Ok(slot)` if present, `Err(empty slot)` if not.
    #[inline]
    fn find(&self, client: u16, block: u64) -> Result<usize, usize> {
        let mut i = home(client, block, self.mask);
        loop {
            let s = &self.slots[i];
            if s.bits == 0 {
                return Err(i);
            }
            if s.block == block && s.client == client {
                return Ok(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// `id` of `client` is in the set.
    #[inline]
    pub fn contains(&self, client: u16, id: u64) -> bool {
        match self.find(client, id >> 6) {
            Ok(i) => self.slots[i].bits & (1 << (id & 63)) != 0,
            Err(_) => false,
        }
    }

    /// Add `id` of `client`; `true` if it was not in the set.
    #[inline]
    pub fn insert(&mut self, client: u16, id: u64) -> bool {
        let block = id >> 6;
        let bit = 1_u64 << (id & 63);
        match self.find(client, block) {
            Ok(i) => {
                let s = &mut self.slots[i];
                if s.bits & bit != 0 {
                    return false;
                }
                s.bits |= bit;
            }
            Err(i) => {
                if (self.blocks + 1) * 2 > self.slots.len() {
                    self.grow();
                    let i = self.find(client, block).expect_err("absent");
                    self.slots[i] = Slot { block, bits: bit, client };
                } else {
                    self.slots[i] = Slot { block, bits: bit, client };
                }
                self.blocks += 1;
            }
        }
        self.len += 1;
        self.digest = self.digest.wrapping_add(id_digest(client, id));
        true
    }

    /// Double the table (the documented one-off allocation past the reserve).
    #[cold]
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; n]);
        self.mask = n - 1;
        for s in old.into_iter().filter(|s| s.bits != 0) {
            let i = self.find(s.client, s.block).expect_err("keys are unique");
            self.slots[i] = s;
        }
    }

    /// Write every page of the table once (no change of content), so the first RFQs do not
    /// take page faults.
    pub fn prefault(&mut self) {
        for i in (0..self.slots.len()).step_by(4096 / std::mem::size_of::<Slot>()) {
            self.slots[i] = std::hint::black_box(self.slots[i]);
        }
    }
}

/// Snapshots keep the table slot by slot (its exact layout, so probing after a restore is the
/// same): slot count, occupied slots as (slot delta, client, block, bits). The state hash takes
/// the same content as its size and digest instead (walking millions of slots per hash would
/// make the per-record hash checks of the tests slow); `load` recomputes the digest from the
/// table, so a restored set hashes as the original.
impl rfq_kernel::codec::Persist for DedupSet {
    fn save<O: rfq_kernel::codec::Out>(&self, o: &mut O) {
        let DedupSet { slots: _, mask: _, blocks, len, digest } = self;
        if !o.keeps_all() {
            o.len(*len);
            o.u64(*digest);
            return;
        }
        o.len(self.slot_count());
        o.len(*blocks);
        let mut prev = 0;
        for (i, client, block, bits) in self.occupied() {
            o.var((i - prev) as u64);
            prev = i;
            o.u16(client);
            o.u64(block);
            o.u64(bits);
        }
    }
    fn load(&mut self, d: &mut rfq_kernel::codec::Dec<'_>) -> rfq_kernel::codec::R<()> {
        use rfq_kernel::codec::corrupt;
        let slots = d.len(1 << 40, "dedup slots")?;
        let nb = d.len(slots / 2, "dedup blocks")?;
        let mut occ = Vec::with_capacity(nb);
        let mut at = 0_usize;
        for _ in 0..nb {
            at = at.checked_add(usize::try_from(d.var()?).map_err(|_| corrupt("dedup slot"))?).ok_or_else(|| corrupt("dedup slot"))?;
            occ.push((at, d.u16()?, d.u64()?, d.u64()?));
        }
        DedupSet::load(self, slots, &occ).map_err(corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn exact_across_blocks_clients_and_growth() {
        let mut d = DedupSet::with_blocks(8);
        let mut r = HashSet::new();
        for k in 0..5_000_u64 {
            let (c, id) = ((k % 3) as u16 + 1, k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (k % 64));
            assert_eq!(d.insert(c, id), r.insert((c, id)));
            let id2 = k * 7 + 1;
            assert_eq!(d.insert(1, id2), r.insert((1, id2)));
        }
        assert_eq!(d.len(), r.len());
        for &(c, id) in &r {
            assert!(d.contains(c, id));
            assert!(!d.insert(c, id));
        }
        for c in 0..5 {
            for id in [0, 1, 63, 64, u64::MAX, u64::MAX - 63, 1 << 58] {
                assert_eq!(d.contains(c, id), r.contains(&(c, id)), "{c} {id}");
            }
        }
    }

    #[test]
    fn digest_is_the_content_whatever_the_order_and_survives_a_restore() {
        use rfq_kernel::codec::{Body, Dec, Persist};
        let ids: Vec<(u16, u64)> = (0..500_u64).map(|k| ((k % 3) as u16, k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (k % 61))).collect();
        let (mut a, mut b) = (DedupSet::with_blocks(8), DedupSet::with_blocks(64));
        ids.iter().for_each(|&(c, id)| _ = a.insert(c, id));
        ids.iter().rev().for_each(|&(c, id)| _ = b.insert(c, id));
        assert_eq!(a.digest, b.digest);
        let mut body = Body(Vec::new());
        a.save(&mut body);
        let mut c = DedupSet::with_blocks(8);
        Persist::load(&mut c, &mut Dec::new(&body.0)).unwrap();
        assert_eq!((c.digest, c.len), (a.digest, a.len));
        assert!(!c.insert(ids[7].0, ids[7].1));
        let before = c.digest;
        assert!(c.insert(9, 9));
        assert_ne!(c.digest, before, "a new id changes the digest");
    }

    #[test]
    fn a_sequential_client_fills_consecutive_slots() {
        let mut d = DedupSet::with_blocks(1 << 12);
        for id in 6_400..6_400 + 64 * 40 {
            assert!(d.insert(3, id));
        }
        // blocks 100..140 in block order: each in the slot after the previous block's, except
        // where block 128 starts a new group
        let mut slots: Vec<(u64, usize)> = d.occupied().map(|(i, _, block, _)| (block, i)).collect();
        slots.sort_unstable();
        assert_eq!(slots.len(), 40);
        for w in slots.windows(2) {
            let next = (w[0].1 + 1) & d.mask;
            assert!(w[1].1 == next || w[1].0 == 128, "blocks and slots {slots:?}");
        }
    }

    #[test]
    fn a_table_laid_out_by_the_ungrouped_hash_is_laid_out_again_on_load() {
        // the layout of snapshots written before blocks were grouped: home = hash(client, block)
        let n = 64_usize;
        let mut old = vec![None::<(u16, u64, u64)>; n];
        let keys: Vec<(u16, u64, u64)> = (0..20_u64).map(|k| ((k % 3) as u16, k * 977 + (k % 2) * 5, 1 << (k % 64))).collect();
        for &(c, b, bits) in &keys {
            let mut i = hash(c, b) as usize & (n - 1);
            while old[i].is_some() {
                i = (i + 1) & (n - 1);
            }
            old[i] = Some((c, b, bits));
        }
        let occ: Vec<(usize, u16, u64, u64)> = old.iter().enumerate().filter_map(|(i, s)| s.map(|(c, b, bits)| (i, c, b, bits))).collect();
        let mut d = DedupSet::with_blocks(8);
        d.load(n, &occ).expect("old layout loads");
        let mut r = DedupSet::with_blocks(32);
        for &(c, b, bits) in &keys {
            assert!(d.contains(c, b << 6 | u64::from(bits.trailing_zeros())));
            assert!(r.insert(c, b << 6 | u64::from(bits.trailing_zeros())));
        }
        assert_eq!((d.len, d.digest, d.blocks), (r.len, r.digest, r.blocks));
        // a key saved twice is corruption, not a layout to redo
        let mut twice = occ.clone();
        twice[1] = (twice[1].0, twice[0].1, twice[0].2, twice[0].3);
        assert!(DedupSet::with_blocks(8).load(n, &twice).is_err());
    }

    proptest! {
        #[test]
        fn matches_hashset(ops in proptest::collection::vec((0_u16..4, prop_oneof![0_u64..300, any::<u64>(), (0_u64..4).prop_map(|k| u64::MAX - k)], any::<bool>()), 0..600)) {
            let mut d = DedupSet::with_blocks(4); // tiny: grows several times
            let mut r: HashSet<(u16, u64)> = HashSet::new();
            for (c, id, ins) in ops {
                if ins {
                    prop_assert_eq!(d.insert(c, id), r.insert((c, id)));
                } else {
                    prop_assert_eq!(d.contains(c, id), r.contains(&(c, id)));
                }
                prop_assert_eq!(d.len(), r.len());
            }
            for &(c, id) in &r {
                prop_assert!(d.contains(c, id));
            }
        }
    }
}
