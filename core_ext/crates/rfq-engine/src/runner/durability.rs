//! Durability of a journaled runner: the journal attached to it, outputs staged until the
//! batch that caused them is committed and durable, then published in order (one Release store
//! per ring) with the published marker moved along; the journal sync thread on or off.

use super::marker::{write_marker, PUBLISHED_MARKER};
use super::snapshots::Snapshots;
use super::{Runner, MAX_LATENCY_NS};
use rfq_journal::{JournalError, JournalWriter, OutputHash};
use rfq_ring::clock::monotonic_ns;
use rfq_ring::{Producer, Record};
use std::collections::VecDeque;
use std::fs::File;
use super::replication::{BlockProducer, CommitGate};
use std::sync::Arc;
use std::thread::Thread;

/// A committed batch whose outputs wait for its durability: the journal sequence of its last
/// record and the out/tap ring positions after its last staged output.
#[derive(Debug, Clone, Copy)]
pub(super) struct Batch {
    seq: u64,
    out: u64,
    tap: u64,
}

/// The journal of a runner and what waits for its commits.
pub(super) struct Journal {
    pub(super) writer: JournalWriter,
    pub(super) hash: OutputHash,
    /// `(ts_send, histogram, journal seq)` of records whose latency sample waits for the
    /// publication (0 = tick-to-quote, 1 = RFQ-to-quote); capacity reserved once (at least two
    /// per output ring slot, so staged outputs cannot outnumber it), samples beyond it dropped.
    pub(super) lat: VecDeque<(i64, u8, u64)>,
    /// Committed batches with staged outputs, oldest first (batches that staged nothing have
    /// no entry: publication goes by the durable sequence).
    pub(super) batches: VecDeque<Batch>,
    pub(super) error: Option<JournalError>,
    /// `<dir>/published`: the last journal sequence whose outputs were published (see
    /// [`PUBLISHED_MARKER`]); `None` if it could not be opened (recovery then re-publishes from
    /// the snapshot it starts from).
    pub(super) marker: Option<File>,
    /// Journal sequence the marker was last set to by a publication.
    pub(super) published: u64,
    pub(super) snap: Snapshots,
    /// Replication (crate `rfq-cluster`): outputs are published only up to this journal
    /// sequence number too — the last record a majority of the cluster holds.
    pub(super) gate: Option<Arc<CommitGate>>,
    /// Replication: each journal block's records, written as they are journaled and published
    /// at its commit (see [`super::replication`]).
    pub(super) blocks: Option<BlockProducer>,
    /// [`CommitGate::losses`] when the gate was attached: a higher count is a loss of
    /// leadership since.
    pub(super) gate_losses: u64,
    /// The gate reported a loss of leadership and the runner dropped what it staged: it
    /// consumes and publishes nothing more.
    pub(super) fenced: bool,
}

impl Journal {
    /// The last journal sequence number whose outputs may be published: durable here and, when
    /// replicated, committed by the cluster.
    #[inline]
    pub(super) fn publishable(&self) -> u64 {
        let d = self.writer.durable_seq();
        self.gate.as_ref().map_or(d, |g| d.min(g.get()))
    }

    /// Appends one record to the journal block (and to the replicated block).
    #[inline]
    pub(super) fn append(&mut self, rec: &Record, out_hash: u64) -> Result<(), JournalError> {
        if let Some(b) = self.blocks.as_mut() {
            b.write(rec);
        }
        self.writer.append_marked(rec, out_hash)
    }

    /// The thread unparked by the journal's sync thread, the commit gate and the block ring's
    /// consumer (the core thread while it runs, else none).
    pub(super) fn set_wake(&mut self, t: Option<Thread>) {
        if let Some(g) = self.gate.as_ref() {
            g.set_wake(t.clone());
        }
        if let Some(b) = self.blocks.as_ref() {
            b.set_wake(t.clone());
        }
        self.writer.set_wake(t);
    }

    /// Whether the gate reported a loss of leadership since it was attached.
    #[inline]
    pub(super) fn lost_leadership(&self) -> bool {
        self.gate.as_ref().is_some_and(|g| g.losses() != self.gate_losses)
    }

    /// Records a new batch may take now: `None` for no limit, `Some(0)` when the block ring
    /// lacks room for a whole block (back-pressure) or the runner is fenced.
    #[inline]
    pub(super) fn block_room(&self) -> Option<usize> {
        if self.fenced || self.lost_leadership() {
            return Some(0);
        }
        self.blocks.as_ref().map(|b| if b.has_room() { b.max_block() - b.open_len() } else { 0 })
    }
}

/// Latency samples held per batch while a journal commit is pending (at least).
const LAT_PENDING: usize = 8192;

/// Journal bytes handed to the sync thread and not yet written beyond which the runner stops
/// consuming input (≈ 760 k records).
pub(super) const MAX_JOURNAL_BACKLOG: u64 = 64 << 20;

impl Runner {
    /// Journal every consumed input record before publishing its outputs (see the module doc).
    /// The output-stream hash starts fresh: use this for a journal that is empty or whose
    /// records were not replayed into this core (else [`Runner::recover_journal`]). Replaces
    /// (after flushing) a previous journal.
    pub fn set_journal(&mut self, journal: JournalWriter) {
        self.set_journal_with_hash(journal, OutputHash::new());
    }

    /// As [`Runner::set_journal`], continuing the output-stream hash from `hash`.
    pub fn set_journal_with_hash(&mut self, mut journal: JournalWriter, hash: OutputHash) {
        let old = self.take_journal();
        let marker = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(journal.config().dir.join(PUBLISHED_MARKER)).ok();
        let snap = Snapshots { keep: 2, last_seq: journal.committed_seq(), ..Snapshots::default() };
        let published = journal.durable_seq();
        drop(old);
        let error = if self.sync_thread.unwrap_or(self.threaded) { journal.start_sync_thread().err() } else { None };
        let lat = VecDeque::with_capacity(LAT_PENDING.max((2 * self.out.capacity()).min(1 << 18)));
        // Every queued batch holds at least one staged (unpublished) output, so the rings bound
        // their number: reserved up front, the core thread never grows this queue.
        let staged_max = self.out.capacity() + self.tap.as_ref().map_or(0, Producer::capacity);
        let batches = VecDeque::with_capacity(staged_max.max(1024));
        self.journal = Some(Box::new(Journal { writer: journal, hash, lat, batches, error, marker, published, snap, gate: None, blocks: None, gate_losses: 0, fenced: false }));
    }

    /// Replicates the journal (crate `rfq-cluster`, docs/cluster.md): the records of every
    /// journal block are published on `blocks` at its commit, in order (its consumer proposes
    /// each to the cluster), and outputs are published only up to `gate` as well as the
    /// journal's durable sequence — the last journal sequence number the cluster committed (a
    /// majority holds it). The gate must count the same records as this journal (the replicated
    /// log and the journal start at the same point); [`CommitGate::advance`] unparks the core
    /// thread. A block holds at most `blocks.max_block()` records; while the block ring lacks
    /// room for one, no input is consumed. `None` ends replication (an open block is dropped).
    /// Needs a journal (call after [`Runner::set_journal`]); does nothing without one.
    pub fn set_replication(&mut self, gate: Option<Arc<CommitGate>>, blocks: Option<BlockProducer>) {
        let wake = self.threaded.then(std::thread::current);
        if let Some(j) = self.journal.as_deref_mut() {
            if let Some(b) = j.blocks.as_mut() {
                b.discard();
            }
            j.set_wake(None); // the old gate and ring no longer wake this thread
            j.gate_losses = gate.as_ref().map_or(0, |g| g.losses());
            j.gate = gate;
            j.blocks = blocks;
            j.fenced = false;
            j.set_wake(wake);
        }
    }

    /// Whether the commit gate reported a loss of leadership ([`CommitGate::lose_leadership`])
    /// and this runner acted on it: what it staged beyond the gate was dropped, never
    /// published, and it consumes and publishes nothing more. Its core ran ahead of the
    /// committed log and must not be trusted: rebuild the runner from the committed state.
    pub fn leadership_lost(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.fenced)
    }

    /// Whether the journal's `write(2)` and fdatasync run on a journal sync thread (see the
    /// module doc) instead of the thread calling [`Runner::run_once`]. By default it is on while
    /// the runner runs as the core thread ([`Runner::spawn`]) and off inline, where a commit
    /// under `FsyncEach` returns durable and its outputs are published before `run_once`
    /// returns; this call overrides the default both ways (`false`: the core thread does the
    /// I/O itself, the previous design, e.g. to compare). Applies to the attached journal at
    /// once (turning it off first makes everything durable and publishes it).
    ///
    /// # Errors
    /// The sync thread could not be started, or failed while being stopped (the journal error
    /// is then also kept: fail-stop).
    pub fn set_journal_sync_thread(&mut self, on: bool) -> Result<(), JournalError> {
        self.sync_thread = Some(on);
        self.apply_sync_thread()
    }

    pub(super) fn apply_sync_thread(&mut self) -> Result<(), JournalError> {
        let on = self.sync_thread.unwrap_or(self.threaded);
        if !on {
            self.flush_journal();
        }
        let Some(j) = self.journal.as_deref_mut() else { return Ok(()) };
        if j.error.is_some() {
            return Ok(());
        }
        let res = if on { j.writer.start_sync_thread() } else { j.writer.stop_sync_thread() };
        if let Err(e) = res {
            let msg = e.to_string();
            j.error.get_or_insert(e);
            return Err(JournalError::Config(msg));
        }
        Ok(())
    }

    /// Detaches the journal (after making every commit durable and publishing what waited).
    pub fn take_journal(&mut self) -> Option<JournalWriter> {
        self.flush_journal();
        self.reap_snapshot(true);
        self.journal.take().map(|j| {
            let mut w = j.writer;
            // hand back an inline writer (a failure is kept by the writer, which refuses all)
            let _ = w.stop_sync_thread();
            w
        })
    }

    /// The attached journal writer.
    pub fn journal(&self) -> Option<&JournalWriter> {
        self.journal.as_ref().map(|j| &j.writer)
    }

    /// The I/O error that stopped the journaled runner, if any.
    pub fn journal_error(&self) -> Option<&JournalError> {
        self.journal.as_ref().and_then(|j| j.error.as_ref())
    }

    /// Running hash of the published output stream (journaled runs; `None` without a journal).
    pub fn output_hash(&self) -> Option<u64> {
        self.journal.as_ref().map(|j| j.hash.value())
    }

    /// Makes every journal commit durable (group commit: syncs now) and publishes the outputs
    /// that waited for it. No-op without a journal or after a journal error.
    pub fn flush_journal(&mut self) {
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_none() {
                if let Err(e) = j.writer.sync() {
                    j.error = Some(e);
                }
            }
        }
        self.publish_durable();
    }

    /// Group commit (inline): sync if the oldest unsynced commit is due. Sync thread: pick up
    /// its error, if any. Then publish what became durable (and take a periodic snapshot if
    /// one is due). Called by the core thread every loop.
    pub fn poll_journal(&mut self) {
        self.poll_journal_published();
    }

    /// [`Runner::poll_journal`], returning the output records it published.
    pub(super) fn poll_journal_published(&mut self) -> usize {
        let Some(j) = self.journal.as_deref_mut() else { return 0 };
        if j.error.is_some() {
            return 0;
        }
        if j.writer.sync_pending() {
            if let Err(e) = j.writer.sync_if_due() {
                j.error = Some(e);
                return 0;
            }
        }
        if !j.fenced && j.lost_leadership() {
            return self.fence();
        }
        if j.publishable() == j.published {
            return 0;
        }
        let n = self.publish_durable();
        self.maybe_snapshot();
        n
    }

    /// Publishes the staged outputs of every committed batch that is durable (in order, one
    /// Release store per ring), moves the published marker to the durable sequence and samples
    /// the latencies that waited for it. Returns the output records published.
    fn publish_durable(&mut self) -> usize {
        let republishing = self.republish_at < self.republish.len();
        let Some(j) = self.journal.as_deref_mut() else { return 0 };
        if j.error.is_some() || j.fenced {
            return 0;
        }
        let durable = j.publishable();
        if durable == j.published {
            return 0;
        }
        let mut upto = None;
        while let Some(&b) = j.batches.front() {
            if b.seq > durable {
                break;
            }
            upto = Some(b);
            j.batches.pop_front();
        }
        let mut n = 0;
        if let Some(b) = upto {
            n += self.out.publish_up_to(b.out);
            if let Some(t) = self.tap.as_mut() {
                n += t.publish_up_to(b.tap);
            }
        }
        // every record up to `durable` has its outputs published now: those of the batches
        // just popped, and batches that staged nothing had none
        if let (Some(m), false) = (j.marker.as_ref(), republishing) {
            write_marker(m, durable);
        }
        j.published = durable;
        if j.lat.front().is_some_and(|l| l.2 <= durable) {
            let now = monotonic_ns();
            while let Some(&(ts, which, seq)) = j.lat.front() {
                if seq > durable {
                    break;
                }
                j.lat.pop_front();
                let ns = (now - ts).clamp(1, MAX_LATENCY_NS as i64) as u64;
                if which == 0 { &mut self.tick_to_quote } else { &mut self.rfq_to_quote }.saturating_record(ns);
            }
        }
        n
    }

    /// Acts on a loss of leadership: publishes what the gate covers, then drops every staged
    /// output and queued batch (they never passed the gate) and the open block, and stops
    /// (`fenced`). Returns the output records published.
    fn fence(&mut self) -> usize {
        let n = self.publish_durable();
        self.out.discard_unpublished();
        if let Some(t) = self.tap.as_mut() {
            t.discard_unpublished();
        }
        if let Some(j) = self.journal.as_deref_mut() {
            j.batches.clear();
            j.lat.clear();
            if let Some(b) = j.blocks.as_mut() {
                b.discard();
            }
            j.fenced = true;
        }
        n
    }

    /// Commits the records appended for this batch (remembering where its staged outputs end),
    /// then publishes what is durable; an I/O error is kept (fail-stop) instead of returned.
    pub(super) fn journal_commit(&mut self) {
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_none() {
                match j.writer.commit() {
                    Err(e) => j.error = Some(e),
                    Ok(_) => {
                        if let Some(b) = j.blocks.as_mut() {
                            b.commit();
                        }
                        let b = Batch { seq: j.writer.committed_seq(), out: self.out.staged_end(), tap: self.tap.as_ref().map_or(0, Producer::staged_end) };
                        let staged_more = match j.batches.back() {
                            Some(last) => last.out != b.out || last.tap != b.tap,
                            None => self.out.staged() + self.tap.as_ref().map_or(0, Producer::staged) > 0,
                        };
                        if staged_more {
                            j.batches.push_back(b);
                        }
                    }
                }
            }
        }
        self.publish_durable();
        self.maybe_snapshot();
    }
}
