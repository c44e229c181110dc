//! Driving a [`Core`] from input rings to the output ring: inline or on the core thread.
//!
//! ## Merge order
//! Input rings are polled round-robin in registration order. From the current ring the runner
//! takes up to `batch` records, but never stops in the middle of a venue message: it moves to
//! the next ring only after a record flagged `END`. A message whose tail has not been published
//! yet keeps the runner on that ring (inline mode returns and resumes there). So records of
//! different producers never interleave inside a message, and the order the core saw is a pure
//! function of what each ring held — the order a journal records.
//!
//! ## Back-pressure
//! Before consuming input the runner checks that the output ring — and the tap ring, if one is
//! registered — has room for everything the records could produce
//! ([`Core::max_out_per_record`] each). If not, the input stays in its ring: nothing is ever
//! dropped, the slow consumer slows the producers.
//!
//! ## Tap
//! [`Runner::add_tap`] registers a second output ring that receives a copy of every RFQ-workflow
//! output (kinds 110..=120: quotes to clients, rejects, executions, quote ends, approvals,
//! risk events, control acks) — what the client gateway needs — while the main output ring
//! still receives everything.
//!
//! ## Heartbeat
//! With [`Runner::set_heartbeat`], the core thread processes a synthetic `HEARTBEAT` (flags
//! `END`, `ts_recv` = `CLOCK_REALTIME` ns, `source` = `0xFFFF`) whenever no input was processed
//! for the interval, so quotes expire in an idle system. Off by default; inline runs
//! (`run_once`) move time only with records.
//!
//! ## Journal
//! With [`Runner::set_journal`], every input record the core consumes (injected heartbeats too)
//! is appended to an `rfq_journal::JournalWriter` **before** the outputs it caused become
//! visible: outputs are written into the out/tap rings unpublished
//! (`Producer::write_unpublished`), the batch's records are appended and committed, and only
//! once the commit is durable under the journal's policy are the outputs published (one Release
//! store per ring). Under group commit, outputs stay staged until the group's fdatasync (forced
//! early when the out ring fills, before a command is served, and at stop). Each journaled
//! record carries the running [`OutputHash`] of the output stream after it, so a replay can name
//! the first record whose outputs differ. A journal I/O error stops the runner for good (no
//! further input, nothing more published): it is reported by [`Runner::journal_error`].
//!
//! On the core thread ([`Runner::spawn`], or [`Runner::set_journal_sync_thread`]) the journal's
//! `write(2)` and fdatasync run on a **journal sync thread**
//! (`JournalWriter::start_sync_thread`): a commit only hands the framed block over, and the core
//! goes on consuming input and staging outputs while the disk syncs. Each committed batch leaves
//! `(journal seq, out ring position, tap position)` in a FIFO; every loop iteration the core
//! reads the writer's atomic durable sequence and publishes the staged outputs up to the
//! position of the last batch it covers (`Producer::publish_up_to`: one Release store per
//! ring), so outputs become visible in order and never before every input record that precedes
//! them is durable. The sync thread unparks the core thread when durability advances.

use crate::core::{Core, Sink};
use crate::replay::{replay_tail, ReplayReport};
use crate::snapshot::{list_snapshots, read_snapshot, write_snapshot_file, SnapshotAnchor, SnapshotError, SnapshotWritten};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use hdrhistogram::Histogram;
use rfq_journal::{JournalConfig, JournalError, JournalWriter, OutputHash};
use rfq_ring::clock::monotonic_ns;
use rfq_ring::record::{flags, kind};
use std::time::{SystemTime, UNIX_EPOCH};
use rfq_ring::{Consumer, IdleKind, IdleStrategy, Producer, Record};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Records taken from one ring before moving on (at a message boundary).
pub const DEFAULT_BATCH: usize = 256;

/// A command for the core thread, run between messages, off the hot path.
pub enum Command {
    /// Read-only access to the core (queries).
    Query(Box<dyn FnOnce(&Core) + Send>),
    /// Mutating access (parameter changes).
    Mutate(Box<dyn FnOnce(&mut Core) + Send>),
    /// Register another input ring.
    AddInput(Consumer),
    /// Access to the runner itself (latency histogram, ring counters).
    Runner(Box<dyn FnOnce(&mut Runner) + Send>),
    /// Register the tap ring (copies of RFQ-workflow outputs, kinds 110..=120).
    AddTap(Producer),
}

/// Source id of the heartbeats the runner injects.
pub const HEARTBEAT_SOURCE: u16 = 0xFFFF;

struct RingSink<'a, const STAGED: bool> {
    out: &'a mut Producer,
    /// Running hash of the outputs (journaled runs only).
    hash: OutputHash,
    tap: Option<&'a mut Producer>,
    quotes: u32,
    /// `(client, client RFQ id)` of the RFQ being processed.
    rfq: Option<(u16, u64)>,
    /// The RFQ got its answer (RFQ_QUOTE, RFQ_REJECT or APPROVAL_PENDING).
    answered: bool,
}

impl<const STAGED: bool> Sink for RingSink<'_, STAGED> {
    #[inline]
    fn emit(&mut self, rec: &Record) {
        self.quotes += u32::from(rec.kind == kind::QUOTE);
        let pushed = if STAGED {
            self.hash.push(rec);
            self.out.write_unpublished(rec)
        } else {
            self.out.try_push(rec)
        };
        if pushed.is_err() {
            // Room for every possible output was reserved before the input was consumed.
            unreachable!("output ring full despite reserved room");
        }
        if (kind::RFQ_QUOTE..=kind::CONTROL_ACK).contains(&rec.kind) {
            if let Some(tap) = self.tap.as_deref_mut() {
                let pushed = if STAGED { tap.write_unpublished(rec) } else { tap.try_push(rec) };
                if pushed.is_err() {
                    unreachable!("tap ring full despite reserved room");
                }
            }
            // the client RFQ id is `aux` of RFQ_QUOTE, `seq` of RFQ_REJECT / APPROVAL_PENDING
            let answer = match rec.kind {
                kind::RFQ_QUOTE => Some((rec.source, rec.aux as u64)),
                kind::RFQ_REJECT | kind::APPROVAL_PENDING => Some((rec.source, rec.seq)),
                _ => None,
            };
            if answer.is_some() && answer == self.rfq {
                self.answered = true;
            }
        }
    }
}

/// `CLOCK_REALTIME` in ns (the heartbeat's `ts_recv`).
fn realtime_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// A committed batch whose outputs wait for its durability: the journal sequence of its last
/// record and the out/tap ring positions after its last staged output.
#[derive(Debug, Clone, Copy)]
struct Batch {
    seq: u64,
    out: u64,
    tap: u64,
}

/// The journal of a runner and what waits for its commits.
struct Journal {
    writer: JournalWriter,
    hash: OutputHash,
    /// `(ts_send, histogram, journal seq)` of records whose latency sample waits for the
    /// publication (0 = tick-to-quote, 1 = RFQ-to-quote); capacity reserved once (at least two
    /// per output ring slot, so staged outputs cannot outnumber it), samples beyond it dropped.
    lat: VecDeque<(i64, u8, u64)>,
    /// Committed batches with staged outputs, oldest first (batches that staged nothing have
    /// no entry: publication goes by the durable sequence).
    batches: VecDeque<Batch>,
    error: Option<JournalError>,
    /// `<dir>/published`: the last journal sequence whose outputs were published (see
    /// [`PUBLISHED_MARKER`]); `None` if it could not be opened (recovery then re-publishes from
    /// the snapshot it starts from).
    marker: Option<File>,
    /// Journal sequence the marker was last set to by a publication.
    published: u64,
    snap: Snapshots,
}

/// File name of the published marker in a journal directory: 16 bytes, `le64(seq)` and
/// `le64(seq ^ MARKER_CHECK)`, rewritten in place (`pwrite`, no fsync) by the core thread after
/// every publication. It may lag behind the publications (a lost write only makes recovery
/// publish more again), never run ahead of them.
pub const PUBLISHED_MARKER: &str = "published";
const MARKER_CHECK: u64 = 0x5055_424c_4953_4845;

fn write_marker(f: &File, seq: u64) {
    let mut b = [0_u8; 16];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..].copy_from_slice(&(seq ^ MARKER_CHECK).to_le_bytes());
    // a failed write leaves an older value: recovery re-publishes more, never less
    let _ = f.write_at(&b, 0);
}

/// The published marker of a journal directory: `Some(seq)`, or `None` when absent or torn.
#[must_use]
pub fn read_published_marker(dir: &Path) -> Option<u64> {
    let b = std::fs::read(dir.join(PUBLISHED_MARKER)).ok()?;
    let seq = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let chk = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    (chk == seq ^ MARKER_CHECK).then_some(seq)
}

/// Snapshot policy and bookkeeping of a journaled runner.
#[derive(Default)]
struct Snapshots {
    /// Take one every this many journaled records (0 = never automatically).
    every: u64,
    /// Snapshot files kept (older ones are deleted after a new one is written; ≥ 1).
    keep: usize,
    /// Delete journal segments entirely before the oldest kept snapshot.
    prune: bool,
    /// Sequence number of the last snapshot taken (or recovered from).
    last_seq: u64,
    /// The background write of the last periodic snapshot.
    job: Option<JoinHandle<Result<PathBuf, SnapshotError>>>,
    stats: SnapshotStats,
}

/// What the runner's snapshots did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Snapshot files written.
    pub written: u64,
    /// Writes that failed (the run goes on; the journal is still complete).
    pub failed: u64,
    /// Path of the last one written.
    pub last_path: Option<PathBuf>,
    /// Its journal sequence number.
    pub last_seq: u64,
    /// Its size in bytes.
    pub last_bytes: u64,
    /// Time the core thread spent encoding it, ns (the write runs on another thread).
    pub last_encode_ns: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Journal segments deleted by pruning.
    pub pruned_segments: u64,
}

/// Why [`Runner::recover_journal`] failed.
#[derive(Debug)]
pub enum RecoveryError {
    /// The journal is damaged, of another configuration, or unreadable.
    Journal(JournalError),
    /// A snapshot made recovery impossible (e.g. one newer than the journal).
    Snapshot(SnapshotError),
    /// No snapshot was usable and the journal cannot be replayed from its start either
    /// (e.g. its first segments were pruned).
    NoUsableStart {
        /// Why the full replay failed.
        journal: JournalError,
        /// Each snapshot tried and why it was refused.
        rejected: Vec<(PathBuf, String)>,
    },
}

impl std::fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoveryError::Journal(e) => write!(f, "{e}"),
            RecoveryError::Snapshot(e) => write!(f, "{e}"),
            RecoveryError::NoUsableStart { journal, rejected } => {
                write!(f, "no usable snapshot and no full replay possible ({journal})")?;
                for (p, why) in rejected {
                    write!(f, "; snapshot {} refused: {why}", p.display())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for RecoveryError {}

impl From<JournalError> for RecoveryError {
    fn from(e: JournalError) -> Self {
        RecoveryError::Journal(e)
    }
}

/// What [`Runner::recover_journal`] did. Dereferences to the [`ReplayReport`] of the replayed
/// part (the tail after the snapshot, or the whole journal).
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    /// The replay of the tail (`records` = records replayed after the snapshot).
    pub replay: ReplayReport,
    /// The snapshot the state was restored from (`None`: full replay).
    pub snapshot: Option<PathBuf>,
    /// Its journal sequence number (0 = none).
    pub snapshot_seq: u64,
    /// Snapshots tried and refused (damaged, of another configuration, not matching the
    /// journal), newest first, each with the reason.
    pub rejected_snapshots: Vec<(PathBuf, String)>,
    /// The published marker found (`None`: absent or torn).
    pub published_seq: Option<u64>,
    /// Journaled records whose outputs are published again (those after the marker).
    pub republished_records: u64,
    /// Output records published again (queued ahead of any new output).
    pub republished_outputs: u64,
}

impl std::ops::Deref for RecoveryReport {
    type Target = ReplayReport;
    fn deref(&self) -> &ReplayReport {
        &self.replay
    }
}

/// Latency samples held per batch while a journal commit is pending (at least).
const LAT_PENDING: usize = 8192;

/// Journal bytes handed to the sync thread and not yet written beyond which the runner stops
/// consuming input (≈ 760 k records).
const MAX_JOURNAL_BACKLOG: u64 = 64 << 20;

/// A core plus its rings.
pub struct Runner {
    core: Core,
    inputs: Vec<Consumer>,
    out: Producer,
    current: usize,
    in_message: bool,
    batch: usize,
    out_waits: u64,
    tick_to_quote: Histogram<u64>,
    rfq_to_quote: Histogram<u64>,
    tap: Option<Producer>,
    heartbeat_ns: Option<u64>,
    heartbeats: u64,
    journal: Option<Box<Journal>>,
    /// Outputs regenerated by recovery, published again before any new output.
    republish: Vec<Record>,
    republish_at: usize,
    /// Journal sequence the marker is set to once `republish` is drained.
    republish_seq: u64,
    /// Journal I/O on a sync thread: the explicit choice ([`Runner::set_journal_sync_thread`]),
    /// else on while running as the core thread.
    sync_thread: Option<bool>,
    /// Running on the core thread ([`Runner::spawn`]).
    threaded: bool,
}

/// Longest tick-to-quote latency tracked (larger values are clamped to it).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

impl Runner {
    /// A runner publishing to `out`.
    pub fn new(core: Core, out: Producer) -> Runner {
        Runner {
            core,
            inputs: Vec::new(),
            out,
            current: 0,
            in_message: false,
            batch: DEFAULT_BATCH,
            out_waits: 0,
            tick_to_quote: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            rfq_to_quote: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            tap: None,
            heartbeat_ns: None,
            heartbeats: 0,
            journal: None,
            republish: Vec::new(),
            republish_at: 0,
            republish_seq: 0,
            sync_thread: None,
            threaded: false,
        }
    }

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
        self.journal = Some(Box::new(Journal { writer: journal, hash, lat, batches, error, marker, published, snap }));
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

    fn apply_sync_thread(&mut self) -> Result<(), JournalError> {
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

    /// Snapshot policy of the attached journal: a snapshot every `every` journaled records
    /// (0 = only [`Runner::snapshot_now`]), keeping the newest `keep` files (≥ 1), and with
    /// `prune` deleting the journal segments entirely before the oldest kept snapshot (a full
    /// replay from segment 0 is then no longer possible). A periodic snapshot is taken by the
    /// core thread between batches, at a point where every journaled record is durable and its
    /// outputs published; it is encoded on the core thread and written (temporary file, fsync,
    /// rename) on a helper thread. No-op without a journal.
    pub fn set_snapshots(&mut self, every: u64, keep: usize, prune: bool) {
        if let Some(j) = self.journal.as_deref_mut() {
            j.snap.every = every;
            j.snap.keep = keep.max(1);
            j.snap.prune = prune;
        }
    }

    /// Counters of the snapshots written by this runner (`None` without a journal).
    pub fn snapshot_stats(&mut self) -> Option<SnapshotStats> {
        self.reap_snapshot(false);
        self.journal.as_ref().map(|j| j.snap.stats.clone())
    }

    /// Waits for the background write of the last periodic snapshot, if any. (While one is
    /// being written, a periodic snapshot that falls due is postponed to the next batch.)
    pub fn wait_snapshots(&mut self) {
        self.reap_snapshot(true);
    }

    /// Collects the background snapshot write (waiting for it with `wait`).
    fn reap_snapshot(&mut self, wait: bool) {
        let Some(j) = self.journal.as_deref_mut() else { return };
        if j.snap.job.as_ref().is_some_and(|h| wait || h.is_finished()) {
            let res = j.snap.job.take().expect("checked").join().unwrap_or_else(|_| Err(SnapshotError::Usage("snapshot thread panicked".into())));
            match res {
                Ok(p) => {
                    j.snap.stats.written += 1;
                    j.snap.stats.last_path = Some(p);
                }
                Err(e) => {
                    j.snap.stats.failed += 1;
                    j.snap.stats.last_error = Some(e.to_string());
                }
            }
        }
    }

    /// Takes a snapshot now, synchronously: makes every journal commit durable and publishes
    /// (as [`Runner::flush_journal`]), encodes the core at the last committed record and writes
    /// it into `<journal dir>/snapshots/` (then applies the keep/prune policy). Returns the
    /// path and what was written.
    ///
    /// # Errors
    /// [`SnapshotError::Usage`] without a journal, after a journal error, with nothing
    /// journaled yet, or while recovered outputs still wait to be published again; I/O errors.
    pub fn snapshot_now(&mut self) -> Result<(PathBuf, SnapshotWritten, u64), SnapshotError> {
        self.flush_journal();
        self.reap_snapshot(true);
        if self.republish_at < self.republish.len() {
            return Err(SnapshotError::Usage("recovered outputs still wait to be published again".into()));
        }
        let Some(j) = self.journal.as_deref_mut() else { return Err(SnapshotError::Usage("no journal attached".into())) };
        if let Some(e) = &j.error {
            return Err(SnapshotError::Usage(format!("the journal failed: {e}")));
        }
        let seq = j.writer.committed_seq();
        if seq == 0 {
            return Err(SnapshotError::Usage("nothing journaled yet".into()));
        }
        let t0 = std::time::Instant::now();
        let anchor = SnapshotAnchor { fingerprint: j.writer.config().fingerprint, seq, chain: j.writer.chain(), out_hash: j.hash.value() };
        let bytes = self.core.snapshot_bytes(&anchor);
        let encode_ns = t0.elapsed().as_nanos() as u64;
        let dir = j.writer.config().dir.clone();
        let (keep, prune) = (j.snap.keep, j.snap.prune);
        let res = write_and_retain(&dir, anchor.fingerprint, &bytes, keep, prune);
        j.snap.last_seq = seq;
        match res {
            Ok((path, pruned)) => {
                let header = crate::snapshot::SnapshotHeader::decode(&bytes)?;
                let st = &mut j.snap.stats;
                st.written += 1;
                st.last_path = Some(path.clone());
                st.last_seq = seq;
                st.last_bytes = bytes.len() as u64;
                st.last_encode_ns = encode_ns;
                st.pruned_segments += pruned;
                Ok((path, SnapshotWritten { header, bytes: bytes.len() as u64 }, encode_ns))
            }
            Err(e) => {
                j.snap.stats.failed += 1;
                j.snap.stats.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Periodic snapshot, between batches: only when due, at a fully durable and published
    /// point, with nothing left to re-publish and the previous write finished.
    fn maybe_snapshot(&mut self) {
        let Some(j) = self.journal.as_deref() else { return };
        if j.snap.every == 0 || j.error.is_some() {
            return;
        }
        let seq = j.writer.committed_seq();
        if seq < j.snap.last_seq.saturating_add(j.snap.every)
            || j.writer.durable_seq() != seq
            || j.writer.pending() != 0
            || self.out.staged() != 0
            || !j.batches.is_empty()
            || self.republish_at < self.republish.len()
        {
            return;
        }
        self.reap_snapshot(false);
        let j = self.journal.as_deref_mut().expect("journaled");
        if j.snap.job.is_some() {
            return; // the previous one is still being written
        }
        let t0 = std::time::Instant::now();
        let anchor = SnapshotAnchor { fingerprint: j.writer.config().fingerprint, seq, chain: j.writer.chain(), out_hash: j.hash.value() };
        let bytes = self.core.snapshot_bytes(&anchor);
        j.snap.stats.last_encode_ns = t0.elapsed().as_nanos() as u64;
        j.snap.stats.last_seq = seq;
        j.snap.stats.last_bytes = bytes.len() as u64;
        j.snap.last_seq = seq;
        let dir = j.writer.config().dir.clone();
        let (keep, prune) = (j.snap.keep, j.snap.prune);
        let spawned = std::thread::Builder::new().name("rfqcore-snapshot".into()).spawn(move || {
            write_and_retain(&dir, anchor.fingerprint, &bytes, keep, prune).map(|(p, _)| p)
        });
        match spawned {
            Ok(h) => j.snap.job = Some(h),
            Err(e) => {
                j.snap.stats.failed += 1;
                j.snap.stats.last_error = Some(format!("spawn snapshot writer: {e}"));
            }
        }
    }

    /// Publishes outputs regenerated by recovery while the rings have room; `true` once none
    /// is left (then the marker moves to the recovered end of the journal).
    fn drain_republish(&mut self) -> bool {
        if self.republish_at >= self.republish.len() {
            return true;
        }
        while self.republish_at < self.republish.len() {
            let rec = self.republish[self.republish_at];
            let to_tap = (kind::RFQ_QUOTE..=kind::CONTROL_ACK).contains(&rec.kind) && self.tap.is_some();
            if self.out.free_slots() == 0 || (to_tap && self.tap.as_ref().is_some_and(|t| t.free_slots() == 0)) {
                return false;
            }
            if self.out.try_push(&rec).is_err() {
                return false;
            }
            if to_tap {
                let _ = self.tap.as_mut().expect("checked").try_push(&rec);
            }
            self.republish_at += 1;
        }
        self.republish = Vec::new();
        self.republish_at = 0;
        if let Some(m) = self.journal.as_ref().and_then(|j| j.marker.as_ref()) {
            write_marker(m, self.republish_seq);
        }
        true
    }

    /// Output records recovered and still waiting to be published again.
    pub fn republish_pending(&self) -> usize {
        self.republish.len() - self.republish_at
    }

    /// Crash recovery: opens the journal of `cfg` (truncating a torn tail), restores this
    /// runner's core — which must not have processed any record yet — from the newest usable
    /// snapshot in `<dir>/snapshots/` and replays the journal after it (or replays the whole
    /// journal when no snapshot is usable), then attaches the journal so the run continues
    /// exactly where it ends.
    ///
    /// Snapshots are tried newest first; one is refused (and reported in
    /// [`RecoveryReport::rejected_snapshots`]) when its file is damaged, of another fingerprint
    /// or configuration, its state hash does not come back, or its anchor `(seq, chain)` is not
    /// a commit of this journal; the next older one is tried, then a full replay. A valid
    /// snapshot **newer than the journal's last committed record** stops recovery with
    /// [`SnapshotError::NewerThanJournal`]: the journal lost acknowledged history.
    ///
    /// Outputs of the records after the published marker (see [`PUBLISHED_MARKER`]; at least
    /// those after the snapshot used) are regenerated by the replay and published again — into
    /// the out and tap rings now as far as they have room, the rest before any new output.
    /// Consumers see them at least once (idempotent by quote / trade id).
    ///
    /// # Errors
    /// See [`RecoveryError`]; a core that already ran is refused (`JournalError::Config`).
    pub fn recover_journal(&mut self, cfg: JournalConfig) -> Result<RecoveryReport, RecoveryError> {
        if self.core.stats().records != 0 {
            return Err(JournalError::Config("recover_journal needs a core that has processed nothing".into()).into());
        }
        let dir = cfg.dir.clone();
        let fp = cfg.fingerprint;
        let writer = JournalWriter::open(cfg)?;
        let journal_seq = writer.committed_seq();
        let published = read_published_marker(&dir);
        let pristine = self.core.snapshot_bytes(&SnapshotAnchor::detached(fp));
        let mut rejected = Vec::new();
        let mut kept = Vec::new();
        let mut found = None;
        for (name_seq, path) in list_snapshots(&dir).map_err(RecoveryError::Snapshot)? {
            let (h, bytes) = match read_snapshot(&path, Some(fp)) {
                Ok(x) => x,
                Err(e) => {
                    rejected.push((path, e.to_string()));
                    continue;
                }
            };
            if h.anchor.seq != name_seq {
                rejected.push((path, format!("header says sequence {}, the name {name_seq}", h.anchor.seq)));
                continue;
            }
            if h.anchor.seq > journal_seq {
                return Err(RecoveryError::Snapshot(SnapshotError::NewerThanJournal { path, seq: h.anchor.seq, journal_seq }));
            }
            if let Err(e) = self.core.restore_snapshot(&mut bytes.as_slice()) {
                rejected.push((path, e.to_string()));
                self.core.restore_snapshot(&mut pristine.as_slice()).expect("the fresh core's own snapshot restores");
                continue;
            }
            kept.clear();
            let keep_after = published.unwrap_or(0).max(h.anchor.seq);
            let anchor = Some((h.anchor.seq, h.anchor.chain));
            match replay_tail(&mut self.core, &dir, fp, anchor, OutputHash::from_value(h.anchor.out_hash), keep_after, &mut kept) {
                Ok((rep, n)) => {
                    found = Some((path, h.anchor.seq, rep, n));
                    break;
                }
                Err(e @ JournalError::AnchorMismatch { .. }) => {
                    rejected.push((path, e.to_string()));
                    self.core.restore_snapshot(&mut pristine.as_slice()).expect("the fresh core's own snapshot restores");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (snapshot, snapshot_seq, mut rep, republished_records) = match found {
            Some((p, seq, rep, n)) => (Some(p), seq, rep, n),
            None => {
                kept.clear();
                match replay_tail(&mut self.core, &dir, fp, None, OutputHash::new(), published.unwrap_or(0), &mut kept) {
                    Ok((rep, n)) => (None, 0, rep, n),
                    Err(journal) if !rejected.is_empty() || matches!(journal, JournalError::MissingSegment { .. }) => {
                        return Err(RecoveryError::NoUsableStart { journal, rejected })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        rep.torn = writer.recovery().torn.clone();
        self.set_journal_with_hash(writer, OutputHash::from_value(rep.output_hash));
        if let Some(j) = self.journal.as_deref_mut() {
            j.snap.last_seq = snapshot_seq;
        }
        let republished_outputs = kept.len() as u64;
        self.republish = kept;
        self.republish_at = 0;
        self.republish_seq = journal_seq;
        self.drain_republish();
        Ok(RecoveryReport {
            replay: rep,
            snapshot,
            snapshot_seq,
            rejected_snapshots: rejected,
            published_seq: published,
            republished_records,
            republished_outputs,
        })
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
    fn poll_journal_published(&mut self) -> usize {
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
        if j.writer.durable_seq() == j.published {
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
        if j.error.is_some() {
            return 0;
        }
        let durable = j.writer.durable_seq();
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

    /// Commits the records appended for this batch (remembering where its staged outputs end),
    /// then publishes what is durable; an I/O error is kept (fail-stop) instead of returned.
    fn journal_commit(&mut self) {
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_none() {
                match j.writer.commit() {
                    Err(e) => j.error = Some(e),
                    Ok(_) => {
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

    /// Register the tap ring: every output of kind 110..=120 is also pushed there (replaces a
    /// previous tap). Back-pressure covers it: input waits while the tap lacks room.
    pub fn add_tap(&mut self, tap: Producer) {
        if let Some(j) = self.journal.as_deref_mut() {
            j.batches.reserve(tap.capacity()); // the tap's staged outputs can queue batches too
        }
        self.tap = Some(tap);
    }

    /// Inject a `HEARTBEAT` on the core thread after `interval_ns` of wall time without input
    /// (`None` = never, the default).
    pub fn set_heartbeat(&mut self, interval_ns: Option<u64>) {
        self.heartbeat_ns = interval_ns.filter(|&n| n > 0);
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Option<u64> {
        self.heartbeat_ns
    }

    /// Heartbeats injected so far.
    pub fn heartbeats(&self) -> u64 {
        self.heartbeats
    }

    /// Process one synthetic `HEARTBEAT` with this `ts_recv` now (what the core thread does
    /// when idle). Returns `false`, doing nothing, in the middle of an input message or when
    /// the output (or tap) ring lacks room for its outputs.
    pub fn inject_heartbeat(&mut self, ts_recv: i64) -> bool {
        if self.in_message || self.room() == 0 || !self.drain_republish() {
            return false;
        }
        let rec = Record {
            kind: kind::HEARTBEAT,
            flags: flags::END,
            source: HEARTBEAT_SOURCE,
            instrument: 0,
            side: 255,
            ts_recv,
            ts_send: monotonic_ns(),
            ..Record::ZERO
        };
        if let Some(j) = self.journal.as_deref_mut() {
            if j.error.is_some() {
                return false;
            }
            let Runner { core, out, tap, .. } = self;
            let mut sink = RingSink::<true> { out, hash: j.hash, tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
            core.process(&rec, &mut sink);
            j.hash = sink.hash;
            if let Err(e) = j.writer.append_marked(&rec, j.hash.value()) {
                j.error = Some(e);
            }
            self.heartbeats += 1;
            self.journal_commit();
            return true;
        }
        let Runner { core, out, tap, .. } = self;
        let mut sink = RingSink::<false> { out, hash: OutputHash::new(), tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        core.process(&rec, &mut sink);
        self.heartbeats += 1;
        true
    }

    /// Input records the output (and tap) rings have room for now.
    #[inline]
    fn room(&self) -> usize {
        let max_out = self.core.max_out_per_record().max(1);
        let mut free = self.out.free_slots();
        if let Some(t) = &self.tap {
            free = free.min(t.free_slots());
        }
        free / max_out
    }

    /// Register an input ring; returns its index (its place in the merge order).
    pub fn add_input(&mut self, input: Consumer) -> usize {
        self.inputs.push(input);
        self.inputs.len() - 1
    }

    /// Number of input rings.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The core (read-only).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The core (mutable; only while no thread runs it).
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// Tick-to-quote latency: from a record's `ts_send` (stamped by its producer) to the moment
    /// the quotes it caused were published on the output ring, in ns. Measured by the runner,
    /// outside the deterministic core (the core never reads a clock).
    pub fn tick_to_quote(&self) -> &Histogram<u64> {
        &self.tick_to_quote
    }

    /// RFQ-to-quote latency: from an `RFQ` record's `ts_send` to the moment its answer
    /// (`RFQ_QUOTE`, `RFQ_REJECT` or `APPROVAL_PENDING`) was published, in ns.
    pub fn rfq_to_quote(&self) -> &Histogram<u64> {
        &self.rfq_to_quote
    }

    /// Forget the latency recorded so far (both histograms).
    pub fn reset_latency(&mut self) {
        self.tick_to_quote.reset();
        self.rfq_to_quote.reset();
    }

    /// Times the runner found the output ring too full to consume input.
    pub fn out_waits(&self) -> u64 {
        self.out_waits
    }

    /// Consume what the input rings hold now, up to `budget` records. Returns the number of
    /// records processed (0 = nothing to do, or the output ring is full).
    pub fn run_once(&mut self, budget: usize) -> usize {
        if !self.drain_republish() {
            self.out_waits += 1;
            return 0;
        }
        let n = self.inputs.len();
        if n == 0 {
            return 0;
        }
        let mut done = 0;
        let mut idle_rings = 0;
        while done < budget && idle_rings < n {
            let (processed, out_full) = self.drain_current(budget - done);
            done += processed;
            if out_full {
                self.out_waits += 1;
                break;
            }
            if self.in_message {
                if processed == 0 {
                    break; // the producer has not published the rest of the message yet
                }
                continue;
            }
            self.current = (self.current + 1) % n;
            idle_rings = if processed == 0 { idle_rings + 1 } else { 0 };
        }
        done
    }

    /// Process records of the current ring: up to `batch` (or `budget`), extended to the end
    /// of the current message. Returns `(processed, output ring too full)`.
    #[inline]
    fn drain_current(&mut self, budget: usize) -> (usize, bool) {
        if self.journal.is_some() {
            return self.drain_current_journaled(budget);
        }
        let room = self.room();
        if room == 0 {
            return (0, true);
        }
        let want = room.min(budget.max(1));
        let Runner { core, inputs, out, current, in_message, batch, tick_to_quote, rfq_to_quote, tap, .. } = self;
        let chunk = inputs[*current].peek(want);
        let mut sink = RingSink::<false> { out, hash: OutputHash::new(), tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        let mut used = 0;
        let (a, b) = chunk.as_slices();
        for rec in a.iter().chain(b.iter()) {
            sink.rfq = (rec.kind == kind::RFQ).then_some((rec.source, rec.seq));
            core.process(rec, &mut sink);
            if sink.quotes != 0 {
                sink.quotes = 0;
                if rec.ts_send > 0 {
                    let ns = (monotonic_ns() - rec.ts_send).clamp(1, MAX_LATENCY_NS as i64) as u64;
                    tick_to_quote.saturating_record(ns);
                }
            }
            if sink.answered {
                sink.answered = false;
                if rec.ts_send > 0 {
                    let ns = (monotonic_ns() - rec.ts_send).clamp(1, MAX_LATENCY_NS as i64) as u64;
                    rfq_to_quote.saturating_record(ns);
                }
            }
            used += 1;
            *in_message = rec.flags & flags::END == 0;
            if used >= *batch && !*in_message {
                break;
            }
        }
        chunk.commit_n(used);
        (used, false)
    }

    /// [`Runner::drain_current`] with a journal: outputs staged, records journaled and
    /// committed, outputs published once durable.
    fn drain_current_journaled(&mut self, budget: usize) -> (usize, bool) {
        if self.journal.as_ref().is_some_and(|j| j.error.is_some()) {
            return (0, true); // fail-stop: nothing more is consumed or published
        }
        let mut room = self.room();
        if room == 0 && self.out.staged() + self.tap.as_ref().map_or(0, Producer::staged) > 0 {
            // the staged outputs fill the ring: group commit syncs now
            if self.journal.as_ref().is_some_and(|j| j.writer.has_sync_thread()) {
                // ask the sync thread, publish what is durable already, wait in the loop
                self.journal.as_ref().expect("journaled").writer.request_sync();
                self.poll_journal_published();
            } else {
                self.flush_journal();
            }
            room = self.room();
        }
        if room == 0 {
            return (0, true);
        }
        if self.journal.as_ref().is_some_and(|j| j.writer.queued_bytes() > MAX_JOURNAL_BACKLOG) {
            // the sync thread's write(2) stalls: hold the input (its memory is bounded)
            return (0, true);
        }
        let want = room.min(budget.max(1));
        let Runner { core, inputs, out, current, in_message, batch, tap, journal, .. } = self;
        let j = journal.as_deref_mut().expect("journaled");
        let chunk = inputs[*current].peek(want);
        let mut sink = RingSink::<true> { out, hash: j.hash, tap: tap.as_mut(), quotes: 0, rfq: None, answered: false };
        let mut used = 0;
        let (a, b) = chunk.as_slices();
        for rec in a.iter().chain(b.iter()) {
            sink.rfq = (rec.kind == kind::RFQ).then_some((rec.source, rec.seq));
            core.process(rec, &mut sink);
            let seq = j.writer.next_seq();
            if let Err(e) = j.writer.append_marked(rec, sink.hash.value()) {
                j.error.get_or_insert(e);
            }
            if sink.quotes != 0 {
                sink.quotes = 0;
                if rec.ts_send > 0 && j.lat.len() < j.lat.capacity() {
                    j.lat.push_back((rec.ts_send, 0, seq));
                }
            }
            if sink.answered {
                sink.answered = false;
                if rec.ts_send > 0 && j.lat.len() < j.lat.capacity() {
                    j.lat.push_back((rec.ts_send, 1, seq));
                }
            }
            used += 1;
            *in_message = rec.flags & flags::END == 0;
            if used >= *batch && !*in_message {
                break;
            }
        }
        j.hash = sink.hash;
        chunk.commit_n(used);
        self.journal_commit();
        (used, false)
    }

    /// Move the runner onto its own thread (the core thread). `idle` is what the thread does
    /// when no ring has work. Commands are served between messages.
    pub fn spawn(mut self, idle: IdleKind) -> std::io::Result<RunnerHandle> {
        self.threaded = true;
        if let Err(e) = self.apply_sync_thread() {
            return Err(std::io::Error::other(e.to_string()));
        }
        let (tx, rx) = channel::<Command>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let join = std::thread::Builder::new().name("rfqcore-core".into()).spawn(move || core_loop(self, rx, stop2, idle))?;
        Ok(RunnerHandle { tx, stop, join: Some(join) })
    }

    fn serve(&mut self, cmd: Command) {
        // Nothing the core knows is shown to anyone before it is journaled.
        self.flush_journal();
        match cmd {
            Command::Query(f) => f(&self.core),
            Command::Mutate(f) => f(&mut self.core),
            Command::AddInput(c) => {
                self.add_input(c);
            }
            Command::Runner(f) => f(self),
            Command::AddTap(p) => self.add_tap(p),
        }
    }
}

/// Writes a snapshot file durably, then deletes all but the newest `keep` snapshots and, with
/// `prune`, the journal segments entirely before the oldest kept one. Returns the path and the
/// number of segments deleted.
fn write_and_retain(dir: &Path, fingerprint: u64, bytes: &[u8], keep: usize, prune: bool) -> Result<(PathBuf, u64), SnapshotError> {
    let path = write_snapshot_file(dir, bytes)?;
    let all = list_snapshots(dir)?;
    for (_, old) in all.iter().skip(keep.max(1)) {
        let _ = std::fs::remove_file(old);
    }
    let mut pruned = 0;
    if prune {
        if let Some(&(oldest, _)) = all.get(keep.max(1).min(all.len()).wrapping_sub(1)) {
            pruned = rfq_journal::prune_before(dir, fingerprint, oldest)
                .map_err(|e| SnapshotError::Usage(format!("pruning the journal: {e}")))?
                .len() as u64;
        }
    }
    Ok((path, pruned))
}

fn core_loop(mut runner: Runner, rx: Receiver<Command>, stop: Arc<AtomicBool>, idle: IdleKind) -> Runner {
    runner.core.prefault();
    if let Some(j) = runner.journal.as_deref_mut() {
        j.writer.set_wake(Some(std::thread::current()));
    }
    let mut idle = idle.strategy();
    let mut cycle: u32 = 0;
    let mut last_work = monotonic_ns();
    loop {
        let mut work = runner.run_once(4096);
        let published = if runner.journal.is_some() { runner.poll_journal_published() } else { 0 };
        cycle = cycle.wrapping_add(1);
        if let Some(iv) = runner.heartbeat_ns {
            let t = monotonic_ns();
            if work > 0 {
                last_work = t;
            } else if t.saturating_sub(last_work) >= iv as i64 && runner.inject_heartbeat(realtime_ns()) {
                last_work = t;
                work = 1;
            }
        }
        if work == 0 || cycle.is_multiple_of(64) {
            while let Ok(cmd) = rx.try_recv() {
                runner.serve(cmd);
            }
            if stop.load(Ordering::Acquire) {
                // Finish what was published before the stop: nothing acknowledged is dropped
                // (staged outputs filling the out ring are made durable and published first).
                loop {
                    if runner.run_once(usize::MAX) > 0 {
                        continue;
                    }
                    runner.flush_journal();
                    if runner.run_once(usize::MAX) == 0 {
                        break;
                    }
                }
                while let Ok(cmd) = rx.try_recv() {
                    runner.serve(cmd);
                }
                runner.flush_journal();
                runner.reap_snapshot(true);
                if let Some(j) = runner.journal.as_deref_mut() {
                    j.writer.set_wake(None);
                }
                // back to inline journal I/O unless chosen explicitly (an error is kept)
                runner.threaded = false;
                let _ = runner.apply_sync_thread();
                return runner;
            }
        }
        idle.idle(work + published);
    }
}

/// A running core thread.
pub struct RunnerHandle {
    tx: Sender<Command>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<Runner>>,
}

impl RunnerHandle {
    /// Send a command; it runs on the core thread between messages.
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Run `f` on the core thread and wait for its answer. `None` if the thread is gone.
    pub fn query<T: Send + 'static>(&self, f: impl FnOnce(&Core) -> T + Send + 'static) -> Option<T> {
        let (rtx, rrx) = channel();
        self.send(Command::Query(Box::new(move |c| {
            let _ = rtx.send(f(c));
        })));
        rrx.recv().ok()
    }

    /// Run `f` mutably on the core thread and wait for its answer.
    pub fn mutate<T: Send + 'static>(&self, f: impl FnOnce(&mut Core) -> T + Send + 'static) -> Option<T> {
        let (rtx, rrx) = channel();
        self.send(Command::Mutate(Box::new(move |c| {
            let _ = rtx.send(f(c));
        })));
        rrx.recv().ok()
    }

    /// Run `f` on the core thread with the runner itself and wait for its answer.
    pub fn with_runner<T: Send + 'static>(&self, f: impl FnOnce(&mut Runner) -> T + Send + 'static) -> Option<T> {
        let (rtx, rrx) = channel();
        self.send(Command::Runner(Box::new(move |r| {
            let _ = rtx.send(f(r));
        })));
        rrx.recv().ok()
    }

    /// Stop the thread after it has drained its inputs, and take the runner back.
    pub fn stop(mut self) -> std::thread::Result<Runner> {
        self.stop.store(true, Ordering::Release);
        self.join.take().expect("joined once").join()
    }
}

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}
