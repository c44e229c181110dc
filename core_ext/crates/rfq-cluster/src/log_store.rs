//! The Raft log and vote of one node, on disk.
//!
//! `raft-log` is an append-only file of frames `le32 len ‖ le32 CRC32C(payload) ‖ payload`, the
//! payload a postcard-encoded [`Op`]: an appended entry, a truncation (conflicting entries from
//! an index on removed), a purge (entries up to a log id removed after a snapshot) or the
//! committed log id. Reopening replays the operations in order; a torn or corrupt frame at the
//! end (a crash during `write(2)`) ends the log there and is cut off — it was never reported
//! durable, because durability is reported only after the fdatasync that covers a frame. The
//! vote is a separate file `vote`, replaced atomically (write, fsync, rename, fsync of the
//! directory) before `save_vote` returns, whatever the [`LogSync`] policy: a vote must never be
//! forgotten, or a node could vote twice in one term.
//!
//! Every operation is written in call order on the caller (openraft serialises log I/O), so the
//! file order is the operation order and one fdatasync covers everything before it.

use crate::{Entry, LogId, NodeId, StorageError, TypeConfig};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageIOError, Vote};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When appended Raft entries are reported durable (and so count towards a majority).
///
/// The trade-off is the journal's (docs/journal.md, "Writer and durability policies"), now per
/// node of a majority: an entry is committed when a majority reported it durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSync {
    /// `write(2)` only: an entry counts once it is in this node's page cache. A committed entry
    /// survives the crash of any minority of processes and of the leader's host, but not a power
    /// loss of a majority of hosts at once. Fastest: no fdatasync on the replication path.
    None,
    /// fdatasync before an append is reported (appends waiting for the same fdatasync share
    /// it). Survives any crash, power loss included; each replication round trip carries one
    /// fdatasync on the followers (and the leader) — 0.2–10 ms on this VM's disk.
    Each,
    /// fdatasync once `max_entries` appends are unsynced or `max_delay` after the first
    /// unsynced one. Measured (cluster_bench, docs/cluster.md): under openraft the timer only
    /// adds its delay — about one append completes per `max_delay`, because the next append
    /// waits for this one's report — so `Each`, whose syncs are shared by whatever accumulated
    /// during the previous one, is the better group commit; kept to show it.
    Group {
        /// Appends that force a sync.
        max_entries: u32,
        /// Longest an append waits for its sync.
        max_delay: Duration,
    },
}

/// One operation of the log file.
#[derive(Serialize, Deserialize)]
enum Op {
    Append(Entry),
    Truncate(u64),
    Purge(LogId),
    Committed(Option<LogId>),
}

/// Bytes of a frame header.
const FRAME: usize = 8;

struct Inner {
    file: File,
    path: PathBuf,
    dir: PathBuf,
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId>,
    buf: Vec<u8>,
    /// An I/O error happened: everything after is refused (the node stops).
    failed: bool,
}

/// The Raft log storage of a node (and its log reader: clones share the log).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    flusher: Option<mpsc::Sender<LogFlushed<TypeConfig>>>,
}

fn io_error(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, replaying the file; a torn tail is cut off.
    ///
    /// # Errors
    /// I/O errors, and a corrupt frame that is not at the end of the file.
    pub fn open(dir: &Path, sync: LogSync) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("raft-log");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        let mut committed = None;
        let mut at = 0;
        while at + FRAME <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
            let Some(payload) = bytes.get(at + FRAME..at + FRAME + len) else {
                break;
            };
            if crc32c::crc32c(payload) != crc {
                break;
            }
            let Ok(op) = postcard::from_bytes::<Op>(payload) else {
                break;
            };
            match op {
                Op::Append(e) => {
                    entries.insert(e.log_id.index, e);
                }
                Op::Truncate(i) => {
                    entries.split_off(&i);
                }
                Op::Purge(id) => {
                    entries = entries.split_off(&(id.index + 1));
                    last_purged = Some(id);
                }
                Op::Committed(c) => committed = c,
            }
            at += FRAME + len;
        }
        if at < bytes.len() {
            // torn tail: never reported durable
            file.set_len(at as u64)?;
            file.sync_data()?;
        }
        let vote = read_vote_file(&dir.join("vote"))?;
        let flusher = match sync {
            LogSync::None => None,
            LogSync::Each => Some(spawn_flusher(file.try_clone()?, 1, Duration::ZERO)),
            LogSync::Group {
                max_entries,
                max_delay,
            } => Some(spawn_flusher(
                file.try_clone()?,
                max_entries.max(1),
                max_delay,
            )),
        };
        let inner = Inner {
            file,
            path,
            dir: dir.to_path_buf(),
            entries,
            last_purged,
            vote,
            committed,
            buf: Vec::new(),
            failed: false,
        };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
            flusher,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Index of the last entry in the log (0 = empty).
    #[must_use]
    pub fn last_index(&self) -> u64 {
        let g = self.lock();
        g.entries
            .keys()
            .next_back()
            .copied()
            .or(g.last_purged.map(|l| l.index))
            .unwrap_or(0)
    }
}

impl Inner {
    fn write_op(&mut self, op: &Op) -> Result<(), StorageError> {
        if self.failed {
            return Err(io_error(std::io::Error::other(format!(
                "{}: an earlier write failed",
                self.path.display()
            ))));
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0; FRAME]);
        let payload = postcard::to_extend(op, std::mem::take(&mut self.buf)).map_err(io_error)?;
        self.buf = payload;
        let len = (self.buf.len() - FRAME) as u32;
        let crc = crc32c::crc32c(&self.buf[FRAME..]);
        self.buf[0..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        if let Err(e) = self.file.write_all(&self.buf) {
            self.failed = true;
            return Err(io_error(e));
        }
        Ok(())
    }
}

fn read_vote_file(path: &Path) -> std::io::Result<Option<Vote<NodeId>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() < 4 || crc32c::crc32c(&bytes[4..]).to_le_bytes() != bytes[0..4] {
        return Err(std::io::Error::other(format!("{}: corrupt vote file (bad CRC): restore it or remove the node's data directory and let it rejoin", path.display())));
    }
    postcard::from_bytes(&bytes[4..])
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
}

fn write_vote_file(dir: &Path, vote: &Vote<NodeId>) -> std::io::Result<()> {
    let body = postcard::to_stdvec(vote).map_err(std::io::Error::other)?;
    let mut bytes = crc32c::crc32c(&body).to_le_bytes().to_vec();
    bytes.extend_from_slice(&body);
    let tmp = dir.join("vote.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join("vote"))?;
    File::open(dir)?.sync_all()
}

/// The thread that makes appends durable and reports them (policies `Each` and `Group`).
fn spawn_flusher(
    file: File,
    max_entries: u32,
    max_delay: Duration,
) -> mpsc::Sender<LogFlushed<TypeConfig>> {
    let (tx, rx) = mpsc::channel::<LogFlushed<TypeConfig>>();
    std::thread::Builder::new()
        .name("rfqcore-raftlog".into())
        .spawn(move || {
            let mut waiting = Vec::new();
            while let Ok(first) = rx.recv() {
                waiting.push(first);
                let due = Instant::now() + max_delay;
                // appends already queued share the sync; a group waits for more up to its bound
                loop {
                    while let Ok(cb) = rx.try_recv() {
                        waiting.push(cb);
                    }
                    if waiting.len() >= max_entries as usize {
                        break;
                    }
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    match rx.recv_timeout(due - now) {
                        Ok(cb) => waiting.push(cb),
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                let res = file.sync_data();
                for cb in waiting.drain(..) {
                    cb.log_io_completed(
                        res.as_ref()
                            .map(|_| ())
                            .map_err(|e| std::io::Error::new(e.kind(), e.to_string())),
                    );
                }
            }
        })
        .expect("spawn the raft log flusher");
    tx
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let g = self.lock();
        Ok(g.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let g = self.lock();
        let last = g
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(g.last_purged);
        Ok(LogState {
            last_purged_log_id: g.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let mut g = self.lock();
        write_vote_file(&g.dir, vote)
            .map_err(|e| StorageError::from(StorageIOError::write_vote(&e)))?;
        g.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut g = self.lock();
        g.write_op(&Op::Committed(committed))?;
        g.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        {
            let mut g = self.lock();
            for e in entries {
                let op = Op::Append(e);
                g.write_op(&op)?;
                let Op::Append(e) = op else { unreachable!() };
                g.entries.insert(e.log_id.index, e);
            }
        }
        match &self.flusher {
            None => callback.log_io_completed(Ok(())),
            Some(tx) => {
                if let Err(mpsc::SendError(cb)) = tx.send(callback) {
                    cb.log_io_completed(Err(std::io::Error::other("raft log flusher stopped")));
                }
            }
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut g = self.lock();
        g.write_op(&Op::Truncate(log_id.index))?;
        g.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut g = self.lock();
        g.write_op(&Op::Purge(log_id))?;
        let keep = g.entries.split_off(&(log_id.index + 1));
        g.entries = keep;
        g.last_purged = Some(log_id);
        Ok(())
    }
}
