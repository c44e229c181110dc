//! [`JournalWriter`]: appends records, commits blocks under a [`Durability`] policy, rolls
//! segments over, and recovers (truncating a torn tail) when it reopens a journal.

use crate::error::{io_err, JournalError};
use crate::format::{
    encode_record, frame_crc, frame_header, genesis, segment_path, Chain, COMMIT_FRAME, FRAME_HEADER,
    F_OUT_HASH, HEADER_SIZE, RECORD_FRAME, T_COMMIT, T_RECORD,
};
use crate::key::{chain_hasher, JournalKey};
use crate::reader::{list_segments, read_file, read_header, scan_segment, Expect, TornTail};
use crate::sync::{new_segment_file, sync_dir, Roll, Start, SyncHook, SyncThread};
use rfq_ring::Record;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::Thread;
use std::time::Instant;

/// When a commit is made durable (fdatasync) — see docs/journal.md for the trade-offs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `write(2)` only: survives a crash of the process (kill -9), not of the machine.
    None,
    /// fdatasync once `max_records` records are unsynced or the oldest unsynced commit is
    /// `max_ns` old (checked at each commit and by [`JournalWriter::sync_if_due`]). A commit is
    /// durable — and [`JournalWriter::durable_seq`] moves — only at that sync.
    GroupCommit {
        /// Unsynced records that force a sync (≥ 1).
        max_records: u64,
        /// Age of the oldest unsynced commit that forces a sync, ns.
        max_ns: u64,
    },
    /// fdatasync at every commit.
    FsyncEach,
}

/// Configuration of a [`JournalWriter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// Directory of the segment files (created if absent).
    pub dir: PathBuf,
    /// Fingerprint of the core configuration; a journal is only ever read or continued with the
    /// same value.
    pub fingerprint: u64,
    /// A segment is closed after the commit that brings it to this size (bytes, ≥ 4096).
    pub segment_bytes: u64,
    /// Durability policy.
    pub durability: Durability,
    /// Desk key the chain is keyed with (docs/journal.md, "Keyed chain"; usually
    /// [`JournalKey::from_env`]). `None`: an unkeyed chain, and a keyed journal is refused.
    /// With a key, an existing unkeyed journal goes on in a new, keyed segment.
    pub key: Option<JournalKey>,
}

impl JournalConfig {
    /// Defaults: 64 MiB segments, fdatasync per commit, no key.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, fingerprint: u64) -> JournalConfig {
        JournalConfig { dir: dir.into(), fingerprint, segment_bytes: 64 << 20, durability: Durability::FsyncEach, key: None }
    }
}

/// What opening an existing journal found and repaired.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Segments present when opened.
    pub segments: u64,
    /// Last committed sequence number found (0 = empty).
    pub last_seq: u64,
    /// The torn tail cut from the last segment, if any.
    pub torn: Option<TornTail>,
    /// A last segment whose header itself was never completely written (crash while rolling
    /// over), removed.
    pub removed_segment: Option<PathBuf>,
}

/// Counters of a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Commits that wrote a block.
    pub commits: u64,
    /// fdatasync calls.
    pub syncs: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Segments created by this writer.
    pub segments_created: u64,
}

/// Size of the reusable frame buffer: a block larger than this is written in pieces before its
/// commit frame (the pieces are a torn tail until the commit lands).
const BUF_BYTES: usize = 1 << 20;

/// Appends records to a journal. Single writer per directory (not enforced across processes).
/// After [`JournalWriter::open`] nothing allocates per record: frames go into a buffer reserved
/// once; a commit is one `write(2)` (plus fdatasync per the policy).
///
/// With [`JournalWriter::start_sync_thread`] the `write(2)`s and fdatasyncs move to a journal
/// sync thread: a commit then frames and chains the block on the caller's thread, copies it
/// into a buffer shared with the sync thread and returns at once; [`JournalWriter::durable_seq`]
/// advances when the sync thread has made the block durable (see `sync.rs` / docs/journal.md).
pub struct JournalWriter {
    cfg: JournalConfig,
    /// The current segment (inline mode; `None` while the sync thread owns it).
    file: Option<File>,
    path: PathBuf,
    seg_index: u64,
    seg_len: u64,
    roll: bool,
    buf: Vec<u8>,
    hasher: blake3::Hasher,
    block_records: u64,
    next_seq: u64,
    written: u64,
    durable: u64,
    chain: Chain,
    unsynced: u64,
    unsynced_since: Option<Instant>,
    failed: bool,
    recovery: Recovery,
    stats: WriterStats,
    /// The sync thread, when started.
    bg: Option<SyncThread>,
    /// Sync thread mode: the segment the next handed-over bytes start (rollover).
    roll_pending: Option<Roll>,
    hook: Option<SyncHook>,
    wake: Option<Thread>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("cfg", &self.cfg)
            .field("path", &self.path)
            .field("next_seq", &self.next_seq)
            .field("committed", &self.written)
            .field("durable", &self.durable_seq())
            .field("sync_thread", &self.bg)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Opens the journal in `cfg.dir` for appending, creating it if empty. An existing journal
    /// is recovered first: its last segment is verified (header, fingerprint, CRCs, sequence
    /// numbers, chain) and a torn tail after its last commit is truncated away (see
    /// [`JournalWriter::recovery`]). The chain continues from the last commit. Earlier segments
    /// are only checked to exist; [`crate::verify`] checks them fully.
    ///
    /// # Errors
    /// [`JournalError::Config`], and every refusal of [`crate::JournalReader`] for the last
    /// segment (damage before its last commit is never repaired), among them
    /// [`JournalError::KeyMissing`] / [`JournalError::WrongKey`] for a keyed journal opened
    /// without its key. With `cfg.key` set on an unkeyed journal, the next commit starts a new,
    /// keyed segment (the keyed chain then also pins the unkeyed segments before it).
    pub fn open(cfg: JournalConfig) -> Result<JournalWriter, JournalError> {
        if cfg.segment_bytes < 4096 {
            return Err(JournalError::Config(format!("segment_bytes {} < 4096", cfg.segment_bytes)));
        }
        if let Durability::GroupCommit { max_records, .. } = cfg.durability {
            if max_records == 0 {
                return Err(JournalError::Config("group commit max_records must be ≥ 1".into()));
            }
        }
        let dir = cfg.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_err("create_dir", &dir))?;
        let durable_fs = cfg.durability != Durability::None;
        // segments before the first may have been pruned (rfq_journal::prune_before)
        let mut segs = list_segments(&dir, false)?;
        let mut recovery = Recovery { segments: segs.len() as u64, ..Recovery::default() };
        let mut bytes = Vec::new();
        // A last segment whose header never fully reached the disk (crash while rolling over).
        if let Some(&last) = segs.last() {
            let path = segment_path(&dir, last);
            read_file(&path, &mut bytes)?;
            if bytes.len() < HEADER_SIZE || bytes.iter().all(|&b| b == 0) {
                std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
                if durable_fs {
                    sync_dir(&dir)?;
                }
                recovery.removed_segment = Some(path);
                segs.pop();
            }
        }
        let Some(&last) = segs.last() else {
            let chain_in = genesis(cfg.fingerprint);
            let mut w = Self::create_segment(cfg, 0, 1, chain_in)?;
            w.recovery = recovery;
            return Ok(w);
        };
        let path = segment_path(&dir, last);
        read_file(&path, &mut bytes)?;
        let after_keyed = last > segs[0] && read_header(&dir, last - 1, cfg.fingerprint)?.key_id.is_some();
        let expect = Expect { index: last, fingerprint: cfg.fingerprint, link: None, key: cfg.key.as_ref(), after_keyed };
        let scan = scan_segment(&bytes, &path, &expect, true, |_, _, _| {})?;
        let file = OpenOptions::new().append(true).open(&path).map_err(io_err("open", &path))?;
        if let Some(t) = &scan.torn {
            file.set_len(t.offset).map_err(io_err("truncate", &path))?;
        }
        if durable_fs {
            // Make what the previous process wrote (possibly only to the page cache) durable.
            file.sync_data().map_err(io_err("fdatasync", &path))?;
        }
        recovery.last_seq = scan.last_seq;
        recovery.torn = scan.torn;
        let seg_len = scan.valid_end as u64;
        let keyed = scan.header.key_id.is_some();
        let mut w = JournalWriter::with_file(cfg, file, path, last, seg_len, scan.last_seq, scan.chain, keyed);
        w.recovery = recovery;
        Ok(w)
    }

    /// Starts a journal in `cfg.dir` (which must hold no segment) that continues another
    /// journal's history after its commit ending at record `seq` with chain value `chain` — the
    /// journal of a node that took over a snapshot at that point (crate `rfq-cluster`). It is
    /// laid out like a pruned journal: its first segment is number 1, with `first_seq` =
    /// `seq + 1` and `chain_in` = `chain`, and segment 0 (the history up to `seq`) is absent,
    /// so a reader from segment 0 refuses it (`MissingSegment`) and a recovery starts from a
    /// snapshot anchored at `(seq, chain)` (`JournalReader::open_pruned` +
    /// `for_each_after`). `seq` 0 is [`JournalWriter::open`] of an empty journal.
    ///
    /// # Errors
    /// [`JournalError::Config`] if `cfg.dir` already holds segments or `segment_bytes` is too
    /// small; I/O errors creating the segment.
    pub fn open_after(cfg: JournalConfig, seq: u64, chain: Chain) -> Result<JournalWriter, JournalError> {
        std::fs::create_dir_all(&cfg.dir).map_err(io_err("create_dir", &cfg.dir))?;
        if !list_segments(&cfg.dir, false)?.is_empty() {
            return Err(JournalError::Config(format!("{}: already holds a journal; open_after starts a new one", cfg.dir.display())));
        }
        if seq == 0 {
            return JournalWriter::open(cfg);
        }
        if cfg.segment_bytes < 4096 {
            return Err(JournalError::Config(format!("segment_bytes {} < 4096", cfg.segment_bytes)));
        }
        Self::create_segment(cfg, 1, seq + 1, chain)
    }

    /// A writer continuing segment `seg_index` (`keyed`: its header is keyed with `cfg.key`).
    /// An unkeyed segment is not continued with a key: the next commit starts a keyed one.
    #[allow(clippy::too_many_arguments, reason = "private constructor of the writer's state")]
    fn with_file(cfg: JournalConfig, file: File, path: PathBuf, seg_index: u64, seg_len: u64, last_seq: u64, chain: Chain, keyed: bool) -> JournalWriter {
        let mut hasher = chain_hasher(if keyed { cfg.key.as_ref() } else { None });
        hasher.update(&chain);
        let roll = seg_len >= cfg.segment_bytes || (cfg.key.is_some() && !keyed);
        JournalWriter {
            cfg,
            file: Some(file),
            path,
            seg_index,
            seg_len,
            roll,
            buf: Vec::with_capacity(BUF_BYTES + COMMIT_FRAME),
            hasher,
            block_records: 0,
            next_seq: last_seq + 1,
            written: last_seq,
            durable: last_seq,
            chain,
            unsynced: 0,
            unsynced_since: None,
            failed: false,
            recovery: Recovery::default(),
            stats: WriterStats::default(),
            bg: None,
            roll_pending: None,
            hook: None,
            wake: None,
        }
    }

    /// Creates segment `index` (refusing to overwrite a file) and returns a writer on it.
    fn create_segment(cfg: JournalConfig, index: u64, first_seq: u64, chain_in: Chain) -> Result<JournalWriter, JournalError> {
        let (file, path) = new_segment_file(&cfg, index, first_seq, chain_in)?;
        let keyed = cfg.key.is_some();
        let mut w = JournalWriter::with_file(cfg, file, path, index, HEADER_SIZE as u64, first_seq - 1, chain_in, keyed);
        w.stats.segments_created = 1;
        w.stats.bytes = HEADER_SIZE as u64;
        Ok(w)
    }

    /// Closes the current segment and starts the next one (at a commit boundary). With the
    /// sync thread, only marks the next handed-over bytes as starting it (the thread syncs the
    /// old segment and creates the new one).
    fn roll_over(&mut self) -> Result<(), JournalError> {
        let index = self.seg_index + 1;
        // the new segment is keyed iff a key is configured (an unkeyed journal opened with a key
        // rolls over at once); the block-start hasher holds only the chain value here
        self.hasher = chain_hasher(self.cfg.key.as_ref());
        self.hasher.update(&self.chain);
        if self.bg.is_some() {
            self.roll_pending = Some(Roll { index, first_seq: self.written + 1, chain_in: self.chain });
            self.path = segment_path(&self.cfg.dir, index);
        } else {
            self.sync()?;
            let (file, path) = new_segment_file(&self.cfg, index, self.written + 1, self.chain)?;
            self.file = Some(file);
            self.path = path;
            self.stats.segments_created += 1;
            self.stats.bytes += HEADER_SIZE as u64;
        }
        self.seg_index = index;
        self.seg_len = HEADER_SIZE as u64;
        self.roll = false;
        Ok(())
    }

    /// Writes the buffered frames without a commit (the buffer is full mid-block).
    fn flush_partial(&mut self) -> Result<(), JournalError> {
        self.hasher.update(&self.buf);
        self.write_buf(0, 0)
    }

    /// Writes the buffer (inline) or hands it to the sync thread; `last_seq` / `records`: what
    /// it commits (0: a partial block).
    fn write_buf(&mut self, last_seq: u64, records: u64) -> Result<(), JournalError> {
        if let Some(bg) = &self.bg {
            bg.enqueue(&self.buf, last_seq, records, self.roll_pending.take());
        } else {
            let file = self.file.as_mut().expect("inline writer has its file");
            if let Err(e) = file.write_all(&self.buf) {
                self.failed = true;
                return Err(JournalError::Io { op: "write", path: self.path.clone(), source: e });
            }
            self.stats.bytes += self.buf.len() as u64;
        }
        self.seg_len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// The error to return once the writer (or its sync thread) failed.
    fn failure(&mut self) -> JournalError {
        self.failed = true;
        self.bg.as_ref().and_then(SyncThread::take_error).unwrap_or_else(|| JournalError::Io {
            op: "append",
            path: self.path.clone(),
            source: std::io::Error::other("journal writer failed earlier"),
        })
    }

    #[inline]
    fn check(&mut self) -> Result<(), JournalError> {
        if self.failed || self.bg.as_ref().is_some_and(SyncThread::failed) {
            return Err(self.failure());
        }
        Ok(())
    }

    #[inline]
    fn push_frame(&mut self, rec: &Record, out_hash: Option<u64>) -> Result<(), JournalError> {
        self.check()?;
        if self.block_records == 0 && self.roll {
            self.roll_over()?;
        }
        if self.buf.len() + RECORD_FRAME > BUF_BYTES {
            self.flush_partial()?;
        }
        let at = self.buf.len();
        self.buf.resize(at + RECORD_FRAME, 0);
        let b = &mut self.buf[at..];
        encode_record(rec, &mut b[FRAME_HEADER..]);
        let (flags, aux) = out_hash.map_or((0, 0), |h| (F_OUT_HASH, h));
        frame_header(b, T_RECORD, flags, 64, self.next_seq, aux);
        frame_crc(b, 64);
        self.next_seq += 1;
        self.block_records += 1;
        Ok(())
    }

    /// Appends records to the current block (not yet written; see [`JournalWriter::commit`]).
    ///
    /// # Errors
    /// I/O errors of a rollover or of writing a full buffer; after any I/O error the writer
    /// refuses everything (the journal's tail is then recovered by the next `open`).
    pub fn append(&mut self, recs: &[Record]) -> Result<(), JournalError> {
        for r in recs {
            self.push_frame(r, None)?;
        }
        Ok(())
    }

    /// Appends one record with the recorded run's output-stream hash after it (what replay
    /// compares to find the first divergence).
    ///
    /// # Errors
    /// As [`JournalWriter::append`].
    #[inline]
    pub fn append_marked(&mut self, rec: &Record, out_hash: u64) -> Result<(), JournalError> {
        self.push_frame(rec, Some(out_hash))
    }

    /// Ends the current block: a COMMIT frame carrying the chain value, one `write(2)` of the
    /// block, then fdatasync per the policy. Returns [`JournalWriter::durable_seq`]: every record
    /// up to it may be acknowledged. A commit with nothing appended only checks the group timer.
    ///
    /// # Errors
    /// I/O errors (the writer then refuses everything).
    pub fn commit(&mut self) -> Result<u64, JournalError> {
        if self.block_records == 0 {
            return self.sync_if_due();
        }
        self.check()?;
        let at = self.buf.len();
        self.buf.resize(at + COMMIT_FRAME, 0);
        let last = self.next_seq - 1;
        frame_header(&mut self.buf[at..], T_COMMIT, 0, 32, last, self.block_records);
        self.hasher.update(&self.buf[..at]);
        self.hasher.update(&self.buf[at + 4..at + FRAME_HEADER]);
        self.chain = *self.hasher.finalize().as_bytes();
        self.buf[at + FRAME_HEADER..at + COMMIT_FRAME].copy_from_slice(&self.chain);
        frame_crc(&mut self.buf[at..], 32);
        self.write_buf(last, self.block_records)?;
        self.hasher.reset();
        self.hasher.update(&self.chain);
        self.stats.commits += 1;
        self.written = last;
        if self.bg.is_some() {
            self.block_records = 0;
            if self.seg_len >= self.cfg.segment_bytes {
                self.roll = true;
            }
            return Ok(self.durable_seq());
        }
        self.unsynced += self.block_records;
        self.block_records = 0;
        if self.unsynced_since.is_none() {
            self.unsynced_since = Some(Instant::now());
        }
        match self.cfg.durability {
            Durability::None => {
                if self.hook.is_some() {
                    self.sync()?;
                }
                self.durable = self.written;
                self.unsynced = 0;
                self.unsynced_since = None;
            }
            Durability::FsyncEach => {
                self.sync()?;
            }
            Durability::GroupCommit { max_records, .. } => {
                if self.unsynced >= max_records {
                    self.sync()?;
                } else {
                    self.sync_if_due()?;
                }
            }
        }
        if self.seg_len >= self.cfg.segment_bytes {
            self.roll = true;
        }
        Ok(self.durable)
    }

    /// fdatasync now if anything written is not yet durable. Returns the durable sequence.
    ///
    /// # Errors
    /// I/O errors (the writer then refuses everything).
    pub fn sync(&mut self) -> Result<u64, JournalError> {
        if let Some(bg) = &self.bg {
            if self.failed || !bg.wait_durable(self.written) {
                return Err(self.failure());
            }
            return Ok(bg.durable());
        }
        if self.failed {
            return Err(self.failure());
        }
        if self.written > self.durable || self.unsynced > 0 {
            let fsync = self.cfg.durability != Durability::None;
            let res = self.hook.as_ref().map_or(Ok(()), |h| h(self.written)).and_then(|()| {
                if fsync {
                    self.file.as_ref().expect("inline writer has its file").sync_data()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = res {
                self.failed = true;
                return Err(JournalError::Io { op: "fdatasync", path: self.path.clone(), source: e });
            }
            if fsync {
                self.stats.syncs += 1;
            }
            self.durable = self.written;
            self.unsynced = 0;
            self.unsynced_since = None;
        }
        Ok(self.durable)
    }

    /// Group commit: sync if the oldest unsynced commit is `max_ns` old. Returns the durable
    /// sequence. (Other policies: nothing is ever pending.)
    ///
    /// # Errors
    /// As [`JournalWriter::sync`].
    pub fn sync_if_due(&mut self) -> Result<u64, JournalError> {
        if self.bg.is_some() {
            self.check()?;
            return Ok(self.durable_seq());
        }
        if let (Durability::GroupCommit { max_ns, .. }, Some(t)) = (self.cfg.durability, self.unsynced_since) {
            if t.elapsed().as_nanos() >= u128::from(max_ns) {
                return self.sync();
            }
        }
        Ok(self.durable)
    }

    /// Whether written commits wait for a sync (group commit only).
    #[must_use]
    pub fn sync_pending(&self) -> bool {
        self.written > self.durable_seq()
    }

    /// Sequence number the next appended record gets (records are numbered from 1).
    #[must_use]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Last record committed (written; durable per [`JournalWriter::durable_seq`]).
    #[must_use]
    pub fn committed_seq(&self) -> u64 {
        self.written
    }

    /// Last record whose commit is durable under the policy (may be acknowledged).
    #[must_use]
    pub fn durable_seq(&self) -> u64 {
        match &self.bg {
            Some(bg) => bg.durable(),
            None => self.durable,
        }
    }

    /// Records appended but not committed.
    #[must_use]
    pub fn pending(&self) -> u64 {
        self.block_records
    }

    /// Chain value after the last commit: `(committed_seq, chain)` is an anchor for
    /// [`crate::verify`].
    #[must_use]
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// What opening found and repaired.
    #[must_use]
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> WriterStats {
        let mut s = self.stats;
        if let Some(bg) = &self.bg {
            let (syncs, bytes, segments) = bg.counters();
            s.syncs += syncs;
            s.bytes += bytes;
            s.segments_created += segments;
        }
        s
    }

    /// Moves `write(2)` and fdatasync onto a journal sync thread (see the type's doc): from
    /// now on [`JournalWriter::commit`] only hands the framed block over (one `memcpy`) and
    /// returns, rollovers happen on the sync thread, and [`JournalWriter::durable_seq`]
    /// advances (an atomic) when the sync thread has made a block durable under the policy.
    /// [`JournalWriter::sync`] waits for it; an I/O error of the sync thread is returned by the
    /// next `append`/`commit`/`sync`/`sync_if_due`. No-op if already started.
    ///
    /// # Errors
    /// The writer failed earlier; the thread could not be spawned.
    pub fn start_sync_thread(&mut self) -> Result<(), JournalError> {
        if self.bg.is_some() {
            return Ok(());
        }
        self.check()?;
        if self.block_records == 0 && self.roll {
            self.roll_over()?;
        }
        let file = self.file.take().expect("inline writer has its file");
        let clone = file.try_clone().map_err(io_err("dup", &self.path))?;
        let st = Start { file, path: self.path.clone(), written: self.written, durable: self.durable, unsynced: self.unsynced, unsynced_since: self.unsynced_since };
        match SyncThread::start(self.cfg.clone(), st, self.hook.clone(), self.wake.clone()) {
            Ok(t) => {
                self.bg = Some(t);
                Ok(())
            }
            Err(e) => {
                self.file = Some(clone);
                Err(JournalError::Io { op: "spawn journal sync thread", path: self.path.clone(), source: e })
            }
        }
    }

    /// Makes everything committed durable, stops the sync thread and continues inline (the
    /// caller's thread writes and syncs again). No-op without a sync thread.
    ///
    /// # Errors
    /// The sync thread failed (the writer then refuses everything).
    pub fn stop_sync_thread(&mut self) -> Result<(), JournalError> {
        let Some(bg) = &self.bg else { return Ok(()) };
        let ok = !self.failed && bg.wait_durable(self.written);
        let err = if ok { None } else { Some(self.failure()) };
        let bg = self.bg.take().expect("checked");
        let (syncs, bytes, segments) = bg.counters();
        self.stats.syncs += syncs;
        self.stats.bytes += bytes;
        self.stats.segments_created += segments;
        let durable = bg.durable();
        match (bg.stop(), err) {
            (Some((file, path)), None) => {
                self.file = Some(file);
                self.path = path;
                self.durable = durable;
                self.unsynced = 0;
                self.unsynced_since = None;
                Ok(())
            }
            (_, err) => {
                self.failed = true;
                self.durable = durable;
                Err(err.unwrap_or_else(|| self.failure()))
            }
        }
    }

    /// Whether a sync thread does the I/O ([`JournalWriter::start_sync_thread`]).
    #[must_use]
    pub fn has_sync_thread(&self) -> bool {
        self.bg.is_some()
    }

    /// Sync thread: ask it to make everything committed durable now (group commit: without
    /// waiting for the bounds), without waiting. Inline: nothing (see [`JournalWriter::sync`]).
    pub fn request_sync(&self) {
        if let Some(bg) = &self.bg {
            bg.request_sync();
        }
    }

    /// Bytes committed (handed to the sync thread) and not yet written (0 inline).
    #[must_use]
    pub fn queued_bytes(&self) -> u64 {
        self.bg.as_ref().map_or(0, SyncThread::queued)
    }

    /// A thread the sync thread unparks whenever `durable_seq` advances or it fails (e.g. the
    /// core thread, whose idle strategy may park). Takes effect at once.
    pub fn set_wake(&mut self, t: Option<Thread>) {
        if let Some(bg) = &self.bg {
            bg.set_wake(t.clone());
        }
        self.wake = t;
    }

    /// Test / fault-injection hook called before every durability step (see [`SyncHook`]),
    /// inline or on the sync thread; set it before [`JournalWriter::start_sync_thread`].
    pub fn set_sync_hook(&mut self, hook: Option<SyncHook>) {
        self.hook = hook;
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &JournalConfig {
        &self.cfg
    }

    /// The segment being written.
    #[must_use]
    pub fn segment_path(&self) -> &Path {
        &self.path
    }
}

