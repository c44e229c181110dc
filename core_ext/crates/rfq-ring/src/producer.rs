//! [`Producer`]: the single writing side of a ring, and [`Claim`], its zero-copy batch slot.

use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::shm::Mapping;
use crate::{Full, Record};

/// The writing side of a ring. There is exactly one per ring (`Send`, not `Sync`, not `Clone`).
///
/// Keeps its own copy of `write_pos` and a cached copy of the consumer's `read_pos`, which it
/// reloads (Acquire) only when the cache says the ring is full. Records are written first and
/// then published with one Release store of `write_pos` per push or per batch.
/// No method allocates.
pub struct Producer {
    data: NonNull<Record>,
    write_pos: NonNull<AtomicU64>,
    read_pos: NonNull<AtomicU64>,
    mask: u64,
    capacity: u64,
    /// Records published so far (the value last stored into `write_pos`).
    local_write: u64,
    /// Last `read_pos` loaded from the header.
    cached_read: u64,
    /// Records written after `local_write` by [`Producer::write_unpublished`], not yet published.
    staged: u64,
    /// Keeps the mapping alive for as long as the pointers above are used.
    map: Arc<Mapping>,
}

// SAFETY: the producer role moves with the value: the pointers target a mapping kept alive by
// the owned `Arc<Mapping>` (Send + Sync), and nothing is tied to the creating thread. It is not
// `Sync` (raw pointers opt out), so `&mut self` methods can never race with each other.
unsafe impl Send for Producer {}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("path", &self.map.path())
            .field("capacity", &self.capacity)
            .field("write_pos", &self.local_write)
            .field("cached_read_pos", &self.cached_read)
            .field("staged", &self.staged)
            .finish()
    }
}

impl Producer {
    pub(crate) fn new(map: Arc<Mapping>) -> Producer {
        let write = map.write_pos().load(Ordering::Acquire);
        let read = map.read_pos().load(Ordering::Acquire);
        Producer {
            data: map.data(),
            write_pos: NonNull::from(map.write_pos()),
            read_pos: NonNull::from(map.read_pos()),
            mask: map.capacity() - 1,
            capacity: map.capacity(),
            local_write: write,
            cached_read: read,
            staged: 0,
            map,
        }
    }

    #[inline(always)]
    fn write_pos_atomic(&self) -> &AtomicU64 {
        // SAFETY: points into the header of the mapping owned by `self.map` (alive as long as
        // `self`), 8-aligned; see `Mapping::atomic_u64`.
        unsafe { self.write_pos.as_ref() }
    }

    #[inline(always)]
    fn read_pos_atomic(&self) -> &AtomicU64 {
        // SAFETY: as for `write_pos_atomic`.
        unsafe { self.read_pos.as_ref() }
    }

    /// Free slots according to the cached `read_pos` (never more than the true number).
    #[inline(always)]
    fn free_cached(&self) -> u64 {
        // A corrupt `read_pos` ahead of `write_pos` wraps to a huge "used" and reads as full.
        self.capacity
            .saturating_sub(self.local_write.wrapping_sub(self.cached_read))
    }

    /// Reloads the consumer's `read_pos` (Acquire: the consumer's reads of the slots it
    /// released happen-before our overwriting them) and returns the free slot count.
    #[inline]
    fn refresh(&mut self) -> u64 {
        self.cached_read = self.read_pos_atomic().load(Ordering::Acquire);
        self.free_cached()
    }

    /// Up to `want` free slots, reloading `read_pos` only if the cache shows fewer.
    #[inline(always)]
    fn reserve(&mut self, want: u64) -> u64 {
        let mut free = self.free_cached();
        if free < want {
            free = self.refresh();
        }
        free.min(want)
    }

    /// Pointer to the slot of position `pos`. Always in bounds (the index is masked).
    #[inline(always)]
    fn slot(&self, pos: u64) -> *mut Record {
        // SAFETY: `pos & mask < capacity` and the mapping holds `capacity` records after
        // `data`, so the result stays inside the mapping.
        unsafe { self.data.as_ptr().add((pos & self.mask) as usize) }
    }

    /// Publishes everything up to `new_write` with one Release store: every record written to
    /// those slots happens-before the consumer's Acquire load that observes the new value.
    #[inline(always)]
    fn publish_to(&mut self, new_write: u64) {
        self.local_write = new_write;
        self.write_pos_atomic().store(new_write, Ordering::Release);
    }

    /// Pushes one record, or returns [`Full`] (nothing written; the caller still has `rec`).
    ///
    /// # Errors
    /// [`Full`] if the consumer has not freed a slot. The ring never drops silently.
    #[inline]
    pub fn try_push(&mut self, rec: &Record) -> Result<(), Full> {
        if self.reserve(1) == 0 {
            return Err(Full);
        }
        debug_assert_eq!(self.staged, 0, "try_push while records are staged");
        // SAFETY: the slot at `local_write` is free: `local_write - read_pos < capacity`, so the
        // consumer has released it (our Acquire load of `read_pos` synchronised with its Release
        // store) and will not read it until we publish. We are the only producer.
        unsafe { self.slot(self.local_write).write(*rec) };
        self.publish_to(self.local_write.wrapping_add(1));
        Ok(())
    }

    /// Writes one record into the next free slot **without publishing it**: the consumer sees
    /// nothing until [`Producer::publish`], which makes every staged record visible with one
    /// Release store. Used to hold outputs back until the input that caused them is journaled.
    /// While records are staged, use only this, `publish` and `discard_unpublished` (not
    /// `try_push`/claims, which would overwrite the staged slots).
    ///
    /// # Errors
    /// [`Full`] if the ring has no free slot after the staged ones (nothing written).
    #[inline]
    pub fn write_unpublished(&mut self, rec: &Record) -> Result<(), Full> {
        if self.free_cached() <= self.staged && self.refresh() <= self.staged {
            return Err(Full);
        }
        // SAFETY: position `local_write + staged` is free: fewer than `capacity` positions lie
        // between it and the consumer's `read_pos` (checked above through an Acquire load), and
        // the consumer reads nothing at or after `write_pos` = `local_write` until we publish.
        // We are the only producer.
        unsafe { self.slot(self.local_write.wrapping_add(self.staged)).write(*rec) };
        self.staged += 1;
        Ok(())
    }

    /// Publishes every record staged by [`Producer::write_unpublished`] (one Release store);
    /// returns how many.
    #[inline]
    pub fn publish(&mut self) -> usize {
        let n = self.staged;
        if n > 0 {
            self.staged = 0;
            self.publish_to(self.local_write.wrapping_add(n));
        }
        n as usize
    }

    /// Publishes the staged records before ring position `pos` (one Release store; positions
    /// count records since the ring was created, see [`Producer::staged_end`]), leaving the
    /// ones at and after `pos` staged; returns how many were published. A `pos` at or before
    /// [`Producer::write_pos`] publishes nothing; one beyond the staged records publishes them
    /// all.
    #[inline]
    pub fn publish_up_to(&mut self, pos: u64) -> usize {
        let n = pos.wrapping_sub(self.local_write);
        // positions behind write_pos wrap to a huge n: nothing to do
        if n == 0 || n > u64::MAX / 2 {
            return 0;
        }
        let n = n.min(self.staged);
        self.staged -= n;
        self.publish_to(self.local_write.wrapping_add(n));
        n as usize
    }

    /// Ring position after the last staged record (`write_pos + staged`): what
    /// [`Producer::publish_up_to`] takes to publish everything staged so far.
    #[must_use]
    #[inline]
    pub fn staged_end(&self) -> u64 {
        self.local_write.wrapping_add(self.staged)
    }

    /// Records staged and not yet published.
    #[must_use]
    pub fn staged(&self) -> usize {
        self.staged as usize
    }

    /// Forgets the staged records (their slots stay free; the consumer never saw them).
    pub fn discard_unpublished(&mut self) {
        self.staged = 0;
    }

    /// Claims exactly `n` consecutive free slots for zero-copy writing, or `None` if fewer than
    /// `n` are free (in particular always `None` if `n > capacity`).
    ///
    /// Nothing is visible to the consumer until [`Claim::commit`]; dropping the claim publishes
    /// nothing (abort).
    #[inline]
    pub fn try_claim(&mut self, n: usize) -> Option<Claim<'_>> {
        debug_assert_eq!(self.staged, 0, "claim while records are staged");
        let n = n as u64;
        if self.reserve(n) < n {
            return None;
        }
        Some(Claim {
            start: self.local_write,
            len: n as usize,
            producer: self,
        })
    }

    /// Claims as many free slots as available, up to `max` (possibly zero).
    #[inline]
    pub fn claim_up_to(&mut self, max: usize) -> Claim<'_> {
        let len = self.reserve(max as u64) as usize;
        Claim {
            start: self.local_write,
            len,
            producer: self,
        }
    }

    /// Pushes as many leading records of `recs` as fit, with one Release store; returns how
    /// many were pushed (the rest are the caller's to retry).
    #[inline]
    pub fn push_slice(&mut self, recs: &[Record]) -> usize {
        let mut claim = self.claim_up_to(recs.len());
        let n = claim.len();
        if n == 0 {
            return 0;
        }
        let (a, b) = claim.as_mut_slices();
        let split = a.len();
        a.copy_from_slice(&recs[..split]);
        b.copy_from_slice(&recs[split..n]);
        claim.commit();
        n
    }

    /// Free slots right now, not counting staged records (reloads `read_pos`; does not change
    /// the cache).
    #[must_use]
    pub fn free_slots(&self) -> usize {
        let read = self.read_pos_atomic().load(Ordering::Acquire);
        self.capacity
            .saturating_sub(self.local_write.wrapping_add(self.staged).wrapping_sub(read)) as usize
    }

    /// Whether the consumer has consumed everything published so far.
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.read_pos_atomic().load(Ordering::Acquire) == self.local_write
    }

    /// Capacity in records.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Records published so far (this producer's `write_pos`).
    #[must_use]
    pub fn write_pos(&self) -> u64 {
        self.local_write
    }

    /// The ring file, or `None` for an anonymous ring.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.map.path()
    }
}

/// Consecutive free slots claimed by [`Producer::try_claim`] / [`Producer::claim_up_to`].
///
/// The slots hold stale data (older records or zeros): overwrite every slot you commit.
/// [`Claim::commit`] publishes them all with one Release store; [`Claim::commit_n`] only a
/// prefix; dropping the claim publishes nothing.
#[must_use = "a claim publishes nothing unless committed"]
pub struct Claim<'a> {
    producer: &'a mut Producer,
    start: u64,
    len: usize,
}

impl std::fmt::Debug for Claim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

impl Claim<'_> {
    /// Number of claimed slots.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot was claimed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The claimed slots as two slices (the second is non-empty only if the claim wraps
    /// around the end of the ring).
    pub fn as_mut_slices(&mut self) -> (&mut [Record], &mut [Record]) {
        let p = &*self.producer;
        let first_idx = (self.start & p.mask) as usize;
        let first_len = self.len.min(p.capacity as usize - first_idx);
        let second_len = self.len - first_len;
        // SAFETY: both ranges are in bounds (`first_idx + first_len <= capacity`,
        // `second_len < capacity`) and disjoint (they only meet if `len > capacity`, which
        // `reserve` rules out). The slots are free (see `Producer::try_push`), so until commit
        // nobody else reads or writes them: the consumer stays below `write_pos`. Every bit
        // pattern is a valid `Record`. The slices borrow `self` mutably, so they cannot
        // outlive the claim or alias each other.
        unsafe {
            (
                std::slice::from_raw_parts_mut(p.data.as_ptr().add(first_idx), first_len),
                std::slice::from_raw_parts_mut(p.data.as_ptr(), second_len),
            )
        }
    }

    /// Writes `rec` into claimed slot `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    #[inline]
    pub fn write(&mut self, i: usize, rec: Record) {
        assert!(
            i < self.len,
            "claim slot {i} out of range (len {})",
            self.len
        );
        let slot = self.producer.slot(self.start.wrapping_add(i as u64));
        // SAFETY: `slot` is one of the claimed free slots (see `as_mut_slices`).
        unsafe { slot.write(rec) };
    }

    /// Publishes all claimed slots (one Release store).
    #[inline]
    pub fn commit(self) {
        let n = self.len;
        self.commit_n(n);
    }

    /// Publishes the first `n` claimed slots (one Release store); the rest stay free.
    ///
    /// # Panics
    /// If `n > self.len()`.
    #[inline]
    pub fn commit_n(self, n: usize) {
        assert!(
            n <= self.len,
            "commit_n({n}) exceeds claim length {}",
            self.len
        );
        if n > 0 {
            self.producer.publish_to(self.start.wrapping_add(n as u64));
        }
    }

    /// Gives the slots back without publishing anything (same as dropping the claim).
    pub fn abort(self) {}
}

#[cfg(test)]
mod tests {
    use crate::{Record, RingFile};

    fn rec(i: u64) -> Record {
        Record { seq: i, ..Record::ZERO }
    }

    #[test]
    fn publish_up_to_publishes_a_prefix_of_the_staged_records() {
        let (mut p, mut c) = RingFile::anonymous(8).unwrap().split();
        assert_eq!(p.publish_up_to(p.staged_end()), 0, "nothing staged");
        let start = p.staged_end();
        for i in 0..5 {
            p.write_unpublished(&rec(i)).unwrap();
        }
        let mid = start + 2;
        assert_eq!(p.staged_end(), start + 5);
        assert_eq!(p.publish_up_to(mid), 2);
        assert_eq!(p.staged(), 3);
        assert_eq!(p.write_pos(), mid);
        assert_eq!(c.try_pop().map(|r| r.seq), Some(0));
        assert_eq!(c.try_pop().map(|r| r.seq), Some(1));
        assert_eq!(c.try_pop(), None, "the rest stays invisible");
        assert_eq!(p.publish_up_to(mid), 0, "already published");
        assert_eq!(p.publish_up_to(start), 0, "behind write_pos");
        // more staged after a partial publication, then wrap around the ring
        for i in 5..10 {
            p.write_unpublished(&rec(i)).unwrap();
        }
        assert_eq!(p.staged(), 8);
        assert!(p.write_unpublished(&rec(99)).is_err(), "staged records hold their slots");
        assert_eq!(p.publish_up_to(p.staged_end() + 100), 8, "beyond the staged: all of them");
        let got: Vec<u64> = std::iter::from_fn(|| c.try_pop()).map(|r| r.seq).collect();
        assert_eq!(got, (2..10).collect::<Vec<_>>());
        assert_eq!(p.staged(), 0);
    }
}
