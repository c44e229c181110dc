//! The journal sync thread: `write(2)` and fdatasync off the caller's thread.
//!
//! The writer's owner (the core thread) frames and chains blocks as before, then hands each
//! committed block to this thread with one `memcpy` into a shared buffer (consecutive blocks
//! that the thread has not taken yet are appended to the same buffer; buffers are recycled, so
//! nothing allocates once the high-water mark is reached). The thread writes what it takes,
//! makes it durable per the [`Durability`] policy, and only then advances the atomic
//! `durable` sequence number, which the owner reads to decide what it may acknowledge.
//!
//! - `None`: `durable` moves after the `write(2)`;
//! - `FsyncEach`: after the fdatasync covering the block (blocks that were already waiting
//!   together share one fdatasync — each is still synced before it is acknowledged);
//! - `GroupCommit { max_records, max_ns }`: the thread writes blocks as they come and
//!   fdatasyncs once `max_records` records are unsynced or `max_ns` after the first unsynced
//!   block was written (it sleeps on a timed wait for that), or when the owner asks
//!   ([`SyncThread::request_sync`]).
//!
//! Segment rollovers happen on this thread too (the owner only marks which block starts the
//! next segment). An I/O error stops the thread for good: `durable` never moves again and the
//! error is kept for the owner.

use crate::error::JournalError;
use crate::format::{Chain, SegmentHeader, HEADER_SIZE};
use crate::key::JournalKey;
use crate::writer::{Durability, JournalConfig};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// A test / fault-injection hook: called on the thread that makes the journal durable, right
/// before each durability step (the fdatasync; under `Durability::None` before `durable`
/// moves after a write), with the last sequence number about to become durable. Blocking in it
/// holds durability back (a slow disk); an `Err` is handled exactly like a failed fdatasync.
pub type SyncHook = Arc<dyn Fn(u64) -> std::io::Result<()> + Send + Sync>;

/// The next segment, created by the sync thread before it writes the chunk that carries it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Roll {
    pub index: u64,
    pub first_seq: u64,
    pub chain_in: Chain,
}

/// Bytes handed over: whole blocks (ending with a COMMIT frame) and possibly, for a block
/// larger than the writer's buffer, its leading part.
struct Chunk {
    bytes: Vec<u8>,
    /// Last sequence number committed by these bytes (0: none, a partial block only).
    last_seq: u64,
    /// Records committed by these bytes.
    records: u64,
    /// Create this segment before writing the bytes.
    roll: Option<Roll>,
}

#[derive(Default)]
struct Queue {
    chunks: VecDeque<Chunk>,
    /// Emptied buffers for reuse.
    spare: Vec<Vec<u8>>,
    /// Sync as soon as possible (group commit: do not wait for the bounds).
    force: bool,
    stop: bool,
    /// The thread is waiting for work (the owner must notify).
    idle: bool,
    /// Threads waiting in [`SyncThread::wait_durable`].
    flush_waiters: u32,
}

struct Shared {
    q: Mutex<Queue>,
    work: Condvar,
    done: Condvar,
    durable: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<JournalError>>,
    syncs: AtomicU64,
    bytes: AtomicU64,
    segments: AtomicU64,
    queued: AtomicU64,
    wake: Mutex<Option<Thread>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State the thread starts from (what the inline writer had done).
pub(crate) struct Start {
    pub file: File,
    pub path: PathBuf,
    /// Last sequence number written to `file`.
    pub written: u64,
    /// Last durable sequence number.
    pub durable: u64,
    /// Records written and not yet synced.
    pub unsynced: u64,
    pub unsynced_since: Option<Instant>,
}

/// Handle of a running sync thread (owned by the writer).
pub(crate) struct SyncThread {
    sh: Arc<Shared>,
    join: Option<JoinHandle<Option<(File, PathBuf)>>>,
}

impl std::fmt::Debug for SyncThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncThread").field("durable", &self.durable()).field("failed", &self.failed()).finish_non_exhaustive()
    }
}

/// Creates segment `index` with its header (keyed when `cfg.key` is: version 2 and the key id;
/// refusing to overwrite a file), fsyncing the file
/// and the directory unless the policy is `None`.
pub(crate) fn new_segment_file(cfg: &JournalConfig, index: u64, first_seq: u64, chain_in: Chain) -> Result<(File, PathBuf), JournalError> {
    use crate::error::io_err;
    let path = crate::format::segment_path(&cfg.dir, index);
    let header = SegmentHeader { index, first_seq, fingerprint: cfg.fingerprint, segment_bytes: cfg.segment_bytes, chain_in, key_id: cfg.key.as_ref().map(JournalKey::id) };
    let mut file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_err("create", &path))?;
    file.write_all(&header.encode()).map_err(io_err("write", &path))?;
    if cfg.durability != Durability::None {
        file.sync_data().map_err(io_err("fdatasync", &path))?;
        sync_dir(&cfg.dir)?;
    }
    Ok((file, path))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(crate::error::io_err("fsync dir", dir))
}

impl SyncThread {
    pub(crate) fn start(cfg: JournalConfig, st: Start, hook: Option<SyncHook>, wake: Option<Thread>) -> std::io::Result<SyncThread> {
        let sh = Arc::new(Shared {
            q: Mutex::new(Queue::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            durable: AtomicU64::new(st.durable),
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
            syncs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            wake: Mutex::new(wake),
        });
        let sh2 = Arc::clone(&sh);
        let join = std::thread::Builder::new().name("rfqcore-journal".into()).spawn(move || run(&sh2, &cfg, st, hook.as_ref()))?;
        Ok(SyncThread { sh, join: Some(join) })
    }

    /// Hands bytes over (one `memcpy`); `last_seq` 0 = a partial block.
    pub(crate) fn enqueue(&self, bytes: &[u8], last_seq: u64, records: u64, roll: Option<Roll>) {
        let mut q = lock(&self.sh.q);
        let merge = roll.is_none() && q.chunks.back().is_some();
        if merge {
            let c = q.chunks.back_mut().expect("checked");
            c.bytes.extend_from_slice(bytes);
            if last_seq != 0 {
                c.last_seq = last_seq;
                c.records += records;
            }
        } else {
            let mut b = q.spare.pop().unwrap_or_default();
            b.extend_from_slice(bytes);
            q.chunks.push_back(Chunk { bytes: b, last_seq, records, roll });
        }
        self.sh.queued.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if q.idle {
            q.idle = false;
            self.sh.work.notify_one();
        }
    }

    /// Asks for a sync as soon as possible (group commit), without waiting.
    pub(crate) fn request_sync(&self) {
        let mut q = lock(&self.sh.q);
        q.force = true;
        if q.idle {
            q.idle = false;
            self.sh.work.notify_one();
        }
    }

    /// Waits until `seq` is durable; `false` if the thread failed first.
    pub(crate) fn wait_durable(&self, seq: u64) -> bool {
        let mut q = lock(&self.sh.q);
        q.flush_waiters += 1;
        q.force = true;
        if q.idle {
            q.idle = false;
            self.sh.work.notify_one();
        }
        while self.durable() < seq && !self.failed() {
            q = self.sh.done.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
        q.flush_waiters -= 1;
        !self.failed()
    }

    #[inline]
    pub(crate) fn durable(&self) -> u64 {
        self.sh.durable.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn failed(&self) -> bool {
        self.sh.failed.load(Ordering::Acquire)
    }

    /// The thread's error (once; later calls get `None`).
    pub(crate) fn take_error(&self) -> Option<JournalError> {
        lock(&self.sh.error).take()
    }

    /// `(syncs, bytes, segments created)` by the thread.
    pub(crate) fn counters(&self) -> (u64, u64, u64) {
        (self.sh.syncs.load(Ordering::Relaxed), self.sh.bytes.load(Ordering::Relaxed), self.sh.segments.load(Ordering::Relaxed))
    }

    /// Bytes handed over and not written yet.
    pub(crate) fn queued(&self) -> u64 {
        self.sh.queued.load(Ordering::Relaxed)
    }

    pub(crate) fn set_wake(&self, t: Option<Thread>) {
        *lock(&self.sh.wake) = t;
    }

    /// Writes what is queued, syncs (unless the policy is `None`), ends the thread and returns
    /// its current segment file (`None` after a failure).
    pub(crate) fn stop(mut self) -> Option<(File, PathBuf)> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Option<(File, PathBuf)> {
        let j = self.join.take()?;
        {
            let mut q = lock(&self.sh.q);
            q.stop = true;
            self.sh.work.notify_one();
        }
        j.join().ok().flatten()
    }
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

fn fail(sh: &Shared, e: JournalError) {
    lock(&sh.error).get_or_insert(e);
    sh.failed.store(true, Ordering::Release);
    let _q = lock(&sh.q);
    sh.done.notify_all();
    if let Some(t) = lock(&sh.wake).as_ref() {
        t.unpark();
    }
}

struct Io<'a> {
    cfg: &'a JournalConfig,
    hook: Option<&'a SyncHook>,
    file: File,
    path: PathBuf,
    written: u64,
    durable: u64,
    unsynced: u64,
    since: Option<Instant>,
}

impl Io<'_> {
    fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
        move |source| JournalError::Io { op, path: self.path.clone(), source }
    }

    /// Makes everything written durable (hook, then fdatasync unless `None`).
    fn sync(&mut self, sh: &Shared) -> Result<(), JournalError> {
        if self.written <= self.durable && self.unsynced == 0 {
            return Ok(());
        }
        if let Some(h) = self.hook {
            h(self.written).map_err(self.io("fdatasync"))?;
        }
        if self.cfg.durability != Durability::None {
            self.file.sync_data().map_err(self.io("fdatasync"))?;
            sh.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.durable = self.written;
        self.unsynced = 0;
        self.since = None;
        Ok(())
    }

    fn write(&mut self, sh: &Shared, c: &Chunk) -> Result<(), JournalError> {
        if let Some(r) = c.roll {
            // close the current segment (durable before the next one exists), open the next
            self.sync(sh)?;
            sh.durable.store(self.durable, Ordering::Release);
            let (f, p) = new_segment_file(self.cfg, r.index, r.first_seq, r.chain_in)?;
            self.file = f;
            self.path = p;
            sh.segments.fetch_add(1, Ordering::Relaxed);
            sh.bytes.fetch_add(HEADER_SIZE as u64, Ordering::Relaxed);
        }
        self.file.write_all(&c.bytes).map_err(self.io("write"))?;
        sh.bytes.fetch_add(c.bytes.len() as u64, Ordering::Relaxed);
        sh.queued.fetch_sub(c.bytes.len() as u64, Ordering::Relaxed);
        if c.last_seq != 0 {
            self.written = c.last_seq;
            self.unsynced += c.records;
            self.since.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// Whether the policy wants a sync now.
    fn due(&self, force: bool) -> bool {
        if self.written <= self.durable {
            return false;
        }
        match self.cfg.durability {
            Durability::None | Durability::FsyncEach => true,
            Durability::GroupCommit { max_records, max_ns } => {
                force || self.unsynced >= max_records || self.since.is_some_and(|t| t.elapsed().as_nanos() >= u128::from(max_ns))
            }
        }
    }

    /// Time left until the group commit's age bound (`None`: nothing waits for it).
    fn group_wait(&self) -> Option<Duration> {
        match (self.cfg.durability, self.since) {
            (Durability::GroupCommit { max_ns, .. }, Some(t)) if self.written > self.durable => Some(Duration::from_nanos(max_ns).saturating_sub(t.elapsed())),
            _ => None,
        }
    }
}

fn run(sh: &Shared, cfg: &JournalConfig, st: Start, hook: Option<&SyncHook>) -> Option<(File, PathBuf)> {
    let mut io = Io { cfg, hook, file: st.file, path: st.path, written: st.written, durable: st.durable, unsynced: st.unsynced, since: st.unsynced_since };
    let mut local: VecDeque<Chunk> = VecDeque::new();
    let mut freed: Vec<Vec<u8>> = Vec::new();
    loop {
        let (force, stop) = {
            let mut q = lock(&sh.q);
            for mut b in freed.drain(..) {
                b.clear();
                q.spare.push(b);
            }
            while q.chunks.is_empty() && !q.force && !q.stop {
                q.idle = true;
                match io.group_wait() {
                    Some(left) if left.is_zero() => break,
                    Some(left) => q = sh.work.wait_timeout(q, left).unwrap_or_else(PoisonError::into_inner).0,
                    None => q = sh.work.wait(q).unwrap_or_else(PoisonError::into_inner),
                }
            }
            q.idle = false;
            std::mem::swap(&mut q.chunks, &mut local);
            (std::mem::take(&mut q.force), q.stop)
        };
        let before = io.durable;
        let mut res = Ok(());
        for c in local.drain(..) {
            if res.is_ok() {
                res = io.write(sh, &c);
            }
            freed.push(c.bytes);
        }
        if res.is_ok() && io.due(force || stop) {
            res = io.sync(sh);
        }
        if let Err(e) = res {
            fail(sh, e);
            return None;
        }
        sh.durable.store(io.durable, Ordering::Release);
        if io.durable != before {
            if let Some(t) = lock(&sh.wake).as_ref() {
                t.unpark();
            }
        }
        let q = lock(&sh.q);
        if q.flush_waiters > 0 {
            sh.done.notify_all();
        }
        if stop && q.chunks.is_empty() {
            return Some((io.file, io.path));
        }
    }
}
