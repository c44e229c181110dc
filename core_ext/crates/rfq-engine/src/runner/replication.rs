//! Replication of a journaled runner (crate `rfq-cluster`, docs/cluster.md): the commit gate
//! that bounds publication, and the bounded block ring that carries each committed journal
//! block off the core thread to whoever proposes it to the cluster.
//!
//! ## Block ring
//! [`block_ring`] makes two preallocated SPSC record rings: the **data** ring holds the records
//! of the blocks, back to back, and the **length** ring one record per block (`aux` = its record
//! count). The core writes a block's records into the data ring unpublished as it journals them
//! and, at the journal commit, publishes them with one Release store and then the block's
//! length. The consumer ([`BlockConsumer`]) reads a block's length, then its records, and
//! releases their slots ([`BlockConsumer::pop_with`]), which is what recycles the buffer space.
//! Nothing is allocated after the rings are made. When the consumer falls behind and the data
//! ring lacks room for a whole block (`max_block` records) or the length ring for its length,
//! the runner consumes no input (back-pressure, as for a full output ring) until space is
//! released; the consumer that frees it then unparks the core thread.
//!
//! ## Commit gate
//! [`CommitGate`] is the journal sequence number of the last record the cluster committed. Its
//! mover ([`CommitGate::advance`]) unparks the core thread registered with it (the runner's
//! core thread registers itself while it runs), so staged outputs are published as soon as
//! the gate covers them rather than at the core's next poll. [`CommitGate::lose_leadership`]
//! tells the runners attached before it that their node is no longer the leader: it then publishes nothing beyond the
//! gate, drops its staged outputs and stops consuming input (see
//! [`Runner::leadership_lost`](super::Runner::leadership_lost)).

use rfq_ring::{Consumer, Producer, Record, RingError, RingFile};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;

/// The commit gate of a replicated runner: the last journal sequence number a majority of the
/// cluster holds, moved by the cluster, read by the core thread (one Acquire load).
#[derive(Debug, Default)]
pub struct CommitGate {
    seq: AtomicU64,
    losses: AtomicU64,
    wake: Mutex<Option<Thread>>,
}

impl CommitGate {
    /// A gate at `seq`.
    #[must_use]
    pub fn new(seq: u64) -> CommitGate {
        CommitGate { seq: AtomicU64::new(seq), ..CommitGate::default() }
    }

    /// The committed journal sequence number.
    #[inline]
    #[must_use]
    pub fn get(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Moves the gate to `seq` (committed by the cluster) and unparks the core thread
    /// registered with it. Called by the cluster, never by the core thread.
    pub fn advance(&self, seq: u64) {
        self.seq.store(seq, Ordering::Release);
        self.unpark();
    }

    /// Reports that this node lost leadership (a proposal failed, or its term ended): every
    /// runner attached to this gate before the call stops publishing beyond the gate and
    /// consuming input, and drops what it staged. There is no way back for such a runner: a new
    /// one is built from the committed state (a runner attached later, in a later term of
    /// leadership, is not affected).
    pub fn lose_leadership(&self) {
        self.losses.fetch_add(1, Ordering::AcqRel);
        self.unpark();
    }

    /// Losses of leadership reported so far ([`CommitGate::lose_leadership`]); a runner
    /// compares it with the count when it was attached.
    #[inline]
    #[must_use]
    pub fn losses(&self) -> u64 {
        self.losses.load(Ordering::Acquire)
    }

    /// The thread unparked when the gate moves (the core thread, while it runs).
    pub fn set_wake(&self, t: Option<Thread>) {
        *self.wake.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    /// The thread [`CommitGate::advance`] unparks, if any.
    #[must_use]
    pub fn wake_thread(&self) -> Option<std::thread::ThreadId> {
        self.wake.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(Thread::id)
    }

    fn unpark(&self) {
        if let Some(t) = self.wake.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            t.unpark();
        }
    }
}

/// The core's side of a block ring (see the module doc): handed to
/// [`Runner::set_replication`](super::Runner::set_replication).
pub struct BlockProducer {
    data: Producer,
    lens: Producer,
    max_block: usize,
    wake: Arc<Wake>,
}

/// The consumer's side of a block ring: the blocks in commit order.
pub struct BlockConsumer {
    data: Consumer,
    lens: Consumer,
    wake: Arc<Wake>,
}

/// The core thread waiting for block-ring space, woken by the consumer that frees it.
#[derive(Default)]
struct Wake {
    /// The producer found no room for a block (set by the core, taken by the consumer).
    waiting: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

/// A block ring holding at least `blocks` blocks of up to `max_block` records (each rounded up
/// to a power of two), all allocated now. The runner never puts more than `max_block` records
/// in one block (a longer batch is cut into several commits).
///
/// # Errors
/// The rings could not be mapped, or `max_block` is 0.
pub fn block_ring(blocks: usize, max_block: usize) -> Result<(BlockProducer, BlockConsumer), RingError> {
    if max_block == 0 {
        return Err(RingError::InvalidCapacity { capacity: 0 });
    }
    let cap = blocks.max(2).next_power_of_two();
    let (data, dc) = RingFile::anonymous((cap * max_block).next_power_of_two())?.split();
    let (lens, lc) = RingFile::anonymous(cap)?.split();
    let wake = Arc::new(Wake::default());
    Ok((BlockProducer { data, lens, max_block, wake: Arc::clone(&wake) }, BlockConsumer { data: dc, lens: lc, wake }))
}

impl BlockProducer {
    /// The most records one block holds.
    #[must_use]
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// Whether a whole new block fits now (room for `max_block` more records and a length).
    /// If not, the consumer unparks the core thread when it frees a block.
    #[inline]
    pub(super) fn has_room(&self) -> bool {
        if self.lens.free_slots() > 0 && self.data.free_slots() >= self.max_block {
            return true;
        }
        self.wake.waiting.store(true, Ordering::SeqCst);
        // the consumer may have freed space meanwhile (before it saw `waiting`): look again
        self.lens.free_slots() > 0 && self.data.free_slots() >= self.max_block
    }

    /// The thread the consumer unparks when it frees space the core waits for (the core
    /// thread, while it runs).
    pub fn set_wake(&self, t: Option<Thread>) {
        *self.wake.thread.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    /// Records of the open block so far.
    #[inline]
    pub(super) fn open_len(&self) -> usize {
        self.data.staged()
    }

    /// Appends a record to the open block (room checked before the batch).
    #[inline]
    pub(super) fn write(&mut self, rec: &Record) {
        if self.data.write_unpublished(rec).is_err() {
            unreachable!("block ring full despite reserved room");
        }
    }

    /// Publishes the open block (its records, then its length). No-op when it is empty.
    #[inline]
    pub(super) fn commit(&mut self) {
        let n = self.data.publish();
        if n > 0 {
            let len = Record { aux: n as i64, ..Record::ZERO };
            if self.lens.try_push(&len).is_err() {
                unreachable!("block length ring full despite reserved room");
            }
        }
    }

    /// Forgets the open block (never published).
    pub(super) fn discard(&mut self) {
        self.data.discard_unpublished();
    }
}

impl BlockConsumer {
    /// Calls `f` with the next committed block's records (in two slices when they wrap around
    /// the ring; the second is then non-empty) and releases their slots. `false` if no block is
    /// waiting.
    pub fn pop_with(&mut self, f: impl FnOnce(&[Record], &[Record])) -> bool {
        let chunk = self.lens.peek(1);
        let Some(n) = chunk.as_slices().0.first().map(|r| r.aux as usize) else { return false };
        chunk.commit_n(1);
        let recs = self.data.peek(n);
        let (a, b) = recs.as_slices();
        debug_assert_eq!(a.len() + b.len(), n, "a block's records are published before its length");
        f(a, b);
        recs.commit_n(n);
        if self.wake.waiting.swap(false, Ordering::SeqCst) {
            if let Some(t) = self.wake.thread.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
                t.unpark();
            }
        }
        true
    }

    /// The thread unparked when a block is taken while the core waits for space, if any.
    #[must_use]
    pub fn wake_thread(&self) -> Option<std::thread::ThreadId> {
        self.wake.thread.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(Thread::id)
    }

    /// The next committed block's records appended to `into` (cleared first); `false` if none.
    pub fn pop_into(&mut self, into: &mut Vec<Record>) -> bool {
        into.clear();
        self.pop_with(|a, b| {
            into.extend_from_slice(a);
            into.extend_from_slice(b);
        })
    }

    /// Blocks waiting.
    #[must_use]
    pub fn blocks(&self) -> usize {
        self.lens.available()
    }
}
