//! [`Consumer`]: the single reading side of a ring, and [`ReadChunk`], its zero-copy batch view.

use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::shm::Mapping;
use crate::Record;

/// The reading side of a ring. There is exactly one per ring (`Send`, not `Sync`, not `Clone`).
///
/// Keeps its own copy of `read_pos` and a cached copy of the producer's `write_pos`, which it
/// reloads (Acquire) only when it has consumed its cache. Slots are released with one Release
/// store of `read_pos` per pop or per batch. No method allocates.
pub struct Consumer {
    data: NonNull<Record>,
    write_pos: NonNull<AtomicU64>,
    read_pos: NonNull<AtomicU64>,
    mask: u64,
    capacity: u64,
    /// Records consumed so far (the value last stored into `read_pos`).
    local_read: u64,
    /// Last `write_pos` loaded from the header.
    cached_write: u64,
    /// Keeps the mapping alive for as long as the pointers above are used.
    map: Arc<Mapping>,
}

// SAFETY: as for `Producer`: the pointers target a mapping kept alive by the owned `Arc`, the
// consumer role moves with the value, and it is not `Sync`.
unsafe impl Send for Consumer {}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("path", &self.map.path())
            .field("capacity", &self.capacity)
            .field("read_pos", &self.local_read)
            .field("cached_write_pos", &self.cached_write)
            .finish()
    }
}

impl Consumer {
    pub(crate) fn new(map: Arc<Mapping>) -> Consumer {
        let read = map.read_pos().load(Ordering::Acquire);
        let write = map.write_pos().load(Ordering::Acquire);
        Consumer {
            data: map.data(),
            write_pos: NonNull::from(map.write_pos()),
            read_pos: NonNull::from(map.read_pos()),
            mask: map.capacity() - 1,
            capacity: map.capacity(),
            local_read: read,
            cached_write: write,
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

    /// Readable records according to the cached `write_pos`, clamped to the capacity so a
    /// corrupt header can never make us read a slot twice in one batch.
    #[inline(always)]
    fn avail_cached(&self) -> u64 {
        self.cached_write
            .wrapping_sub(self.local_read)
            .min(self.capacity)
    }

    /// Reloads `write_pos` (Acquire: the producer's record writes happen-before our reads).
    #[inline(always)]
    fn refresh(&mut self) -> u64 {
        self.cached_write = self.write_pos_atomic().load(Ordering::Acquire);
        self.avail_cached()
    }

    /// Up to `want` readable records, reloading `write_pos` only if the cache shows fewer.
    #[inline(always)]
    fn ready(&mut self, want: u64) -> u64 {
        let mut avail = self.avail_cached();
        if avail < want {
            avail = self.refresh();
        }
        avail.min(want)
    }

    #[inline(always)]
    fn slot(&self, pos: u64) -> *const Record {
        // SAFETY: `pos & mask < capacity`; the mapping holds `capacity` records after `data`.
        unsafe { self.data.as_ptr().add((pos & self.mask) as usize) }
    }

    /// Releases everything up to `new_read` with one Release store: our reads of those slots
    /// happen-before the producer's Acquire load that lets it overwrite them.
    #[inline(always)]
    fn release(&mut self, new_read: u64) {
        self.local_read = new_read;
        self.read_pos_atomic().store(new_read, Ordering::Release);
    }

    /// Pops one record, or `None` if the ring is empty.
    #[inline]
    pub fn try_pop(&mut self) -> Option<Record> {
        if self.ready(1) == 0 {
            return None;
        }
        // SAFETY: `local_read < write_pos`: the producer published this slot with a Release
        // store that our Acquire load synchronised with, and will not touch it until we
        // release it below. Any bit pattern is a valid `Record`.
        let rec = unsafe { self.slot(self.local_read).read() };
        self.release(self.local_read.wrapping_add(1));
        Some(rec)
    }

    /// Zero-copy view of up to `max` readable records (possibly none). Nothing is consumed
    /// until [`ReadChunk::commit`] / [`ReadChunk::commit_n`].
    #[inline]
    pub fn peek(&mut self, max: usize) -> ReadChunk<'_> {
        let len = self.ready(max as u64) as usize;
        ReadChunk {
            start: self.local_read,
            len,
            consumer: self,
        }
    }

    /// Calls `f` on up to `max` records in order, then releases them all with one Release
    /// store; returns how many were consumed. If `f` panics, nothing of this batch is consumed.
    #[inline]
    pub fn read_batch<F: FnMut(&Record)>(&mut self, max: usize, mut f: F) -> usize {
        let chunk = self.peek(max);
        let (a, b) = chunk.as_slices();
        a.iter().chain(b).for_each(&mut f);
        let n = chunk.len();
        chunk.commit();
        n
    }

    /// Copies up to `out.len()` records into `out` (one Release store); returns how many.
    #[inline]
    pub fn poll_into(&mut self, out: &mut [Record]) -> usize {
        let chunk = self.peek(out.len());
        let n = chunk.len();
        if n == 0 {
            return 0;
        }
        let (a, b) = chunk.as_slices();
        out[..a.len()].copy_from_slice(a);
        out[a.len()..n].copy_from_slice(b);
        chunk.commit();
        n
    }

    /// Drops up to `n` readable records without reading them; returns how many.
    pub fn skip(&mut self, n: usize) -> usize {
        let chunk = self.peek(n);
        let k = chunk.len();
        chunk.commit();
        k
    }

    /// Records readable right now (reloads `write_pos`; does not change the cache).
    #[must_use]
    pub fn available(&self) -> usize {
        let write = self.write_pos_atomic().load(Ordering::Acquire);
        write.wrapping_sub(self.local_read).min(self.capacity) as usize
    }

    /// Capacity in records.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Records consumed so far (this consumer's `read_pos`).
    #[must_use]
    pub fn read_pos(&self) -> u64 {
        self.local_read
    }

    /// The ring file, or `None` for an anonymous ring.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.map.path()
    }
}

/// Readable records borrowed from [`Consumer::peek`], in order, as at most two slices.
///
/// Dropping the chunk without committing consumes nothing.
#[must_use = "a read chunk consumes nothing unless committed"]
pub struct ReadChunk<'a> {
    consumer: &'a mut Consumer,
    start: u64,
    len: usize,
}

impl std::fmt::Debug for ReadChunk<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadChunk")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}

impl ReadChunk<'_> {
    /// Number of records in the chunk.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the chunk is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Position (`read_pos`) of the first record of the chunk.
    #[must_use]
    pub fn start_pos(&self) -> u64 {
        self.start
    }

    /// The records as two slices, oldest first (the second is non-empty only on wrap-around).
    #[must_use]
    pub fn as_slices(&self) -> (&[Record], &[Record]) {
        let c = &*self.consumer;
        let first_idx = (self.start & c.mask) as usize;
        let first_len = self.len.min(c.capacity as usize - first_idx);
        let second_len = self.len - first_len;
        // SAFETY: both ranges are in bounds and hold published records (`len <= write_pos -
        // read_pos`, established by an Acquire load of `write_pos`). The producer does not
        // write them until we release them, which needs `commit(self)` and therefore the end
        // of this borrow. Any bit pattern is a valid `Record`.
        unsafe {
            (
                std::slice::from_raw_parts(c.data.as_ptr().add(first_idx), first_len),
                std::slice::from_raw_parts(c.data.as_ptr(), second_len),
            )
        }
    }

    /// Record `i` of the chunk, if `i < len`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&Record> {
        if i >= self.len {
            return None;
        }
        let p = self.consumer.slot(self.start.wrapping_add(i as u64));
        // SAFETY: as in `as_slices`; the reference borrows `self`.
        Some(unsafe { &*p })
    }

    /// Iterates over the records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Record> + '_ {
        let (a, b) = self.as_slices();
        a.iter().chain(b)
    }

    /// Consumes every record of the chunk (one Release store).
    #[inline]
    pub fn commit(self) {
        let n = self.len;
        self.commit_n(n);
    }

    /// Consumes the first `n` records (one Release store); the rest stay readable.
    ///
    /// # Panics
    /// If `n > self.len()`.
    #[inline]
    pub fn commit_n(self, n: usize) {
        assert!(
            n <= self.len,
            "commit_n({n}) exceeds chunk length {}",
            self.len
        );
        if n > 0 {
            self.consumer.release(self.start.wrapping_add(n as u64));
        }
    }
}
