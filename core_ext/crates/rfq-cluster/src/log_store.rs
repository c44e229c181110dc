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
//!
//! Compaction: a purge is first recorded in the current file; then, once the file has grown by
//! at least `max(its size after the last compaction, compact_min)` bytes, the live suffix
//! (purge mark, remaining entries, committed id) is written to `raft-log.tmp`, which is
//! fsynced, opened for appending, renamed over `raft-log`, and the directory fsynced. A crash
//! before the rename leaves the old file (complete, the purge in it) and a stale temp file
//! that opening removes; a crash after it leaves the new file, fsynced before it got the name —
//! so either file is valid at every step. The flusher thread syncs whichever file is current
//! (a shared slot swapped under the log's lock): an append written to the old file before the
//! swap is also in the new one, which was fsynced before the rename. File size stays below
//! about twice the live log plus `compact_min` plus what is appended between two purges.

use crate::file::{read_if_exists, replace_durably};
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

/// Default growth of `raft-log` since its last compaction below which a purge does not compact.
pub const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// The file the flusher thread syncs: swapped by a compaction.
type FileSlot = Arc<Mutex<Arc<File>>>;

/// Where a simulated crash stops a compaction (tests).
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashAt {
    /// Half of the temp file written, not synced.
    TmpPartial,
    /// Temp file complete and fsynced, not renamed.
    TmpSynced,
    /// Renamed, directory not yet fsynced.
    Renamed,
}

struct Inner {
    file: Arc<File>,
    /// The flusher's view of `file`.
    slot: FileSlot,
    path: PathBuf,
    dir: PathBuf,
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId>,
    buf: Vec<u8>,
    /// An I/O error happened: everything after is refused (the node stops).
    failed: bool,
    /// Bytes in the current file.
    file_len: u64,
    /// Bytes of the current file right after its last compaction (or opening).
    compacted_len: u64,
    /// Least growth since the last compaction before a purge compacts.
    compact_min: u64,
    /// Compactions done since opening.
    compactions: u64,
    #[cfg(test)]
    crash_at: Option<CrashAt>,
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
        // a compaction that crashed before its rename: the old file is the log
        match std::fs::remove_file(dir.join("raft-log.tmp")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
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
        let file = Arc::new(file);
        let slot: FileSlot = Arc::new(Mutex::new(file.clone()));
        let flusher = match sync {
            LogSync::None => None,
            LogSync::Each => Some(spawn_flusher(slot.clone(), 1, Duration::ZERO)),
            LogSync::Group {
                max_entries,
                max_delay,
            } => Some(spawn_flusher(slot.clone(), max_entries.max(1), max_delay)),
        };
        let inner = Inner {
            file,
            slot,
            path,
            dir: dir.to_path_buf(),
            entries,
            last_purged,
            vote,
            committed,
            buf: Vec::new(),
            failed: false,
            file_len: at as u64,
            compacted_len: at as u64,
            compact_min: COMPACT_MIN_BYTES,
            compactions: 0,
            #[cfg(test)]
            crash_at: None,
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

    /// Sets the least growth of `raft-log` since its last compaction before a purge compacts it
    /// (default [`COMPACT_MIN_BYTES`]; whatever it is, a purge compacts only once the file has at
    /// least doubled since its last compaction).
    #[must_use]
    pub fn with_compact_min(self, bytes: u64) -> LogStore {
        self.lock().compact_min = bytes;
        self
    }

    /// Bytes of `raft-log` now, and compactions done since opening.
    #[must_use]
    pub fn file_stats(&self) -> (u64, u64) {
        let g = self.lock();
        (g.file_len, g.compactions)
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
        Self::frame(&mut self.buf, op).map_err(io_error)?;
        if let Err(e) = (&*self.file).write_all(&self.buf) {
            self.failed = true;
            return Err(io_error(e));
        }
        self.file_len += self.buf.len() as u64;
        Ok(())
    }

    /// Appends one frame of `op` to `out`.
    fn frame(out: &mut Vec<u8>, op: &Op) -> std::io::Result<()> {
        let start = out.len();
        out.extend_from_slice(&[0; FRAME]);
        let v = postcard::to_extend(op, std::mem::take(out)).map_err(std::io::Error::other)?;
        *out = v;
        let len = (out.len() - start - FRAME) as u32;
        let crc = crc32c::crc32c(&out[start + FRAME..]);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }

    /// Compacts after a purge once the file has grown enough since the last compaction.
    fn maybe_compact(&mut self) -> Result<(), StorageError> {
        let grown = self.file_len.saturating_sub(self.compacted_len);
        if grown < self.compacted_len.max(self.compact_min) {
            return Ok(());
        }
        self.compact().map_err(io_error)
    }

    /// Rewrites the live suffix to a new file and puts it in place (module docs: the steps and
    /// why each crash point leaves a valid log).
    fn compact(&mut self) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::Error::other(format!(
                "{}: an earlier write failed",
                self.path.display()
            )));
        }
        let mut bytes = Vec::new();
        if let Some(p) = self.last_purged {
            Self::frame(&mut bytes, &Op::Purge(p))?;
        }
        for e in self.entries.values() {
            Self::frame(&mut bytes, &Op::Append(e.clone()))?;
        }
        Self::frame(&mut bytes, &Op::Committed(self.committed))?;
        let tmp = self.dir.join("raft-log.tmp");
        let written = (|| -> std::io::Result<File> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            #[cfg(test)]
            if self.crash_at == Some(CrashAt::TmpPartial) {
                f.write_all(&bytes[..bytes.len() / 2])?;
                return Err(std::io::Error::other("simulated crash"));
            }
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            // the handle appends go to once the file has the name
            OpenOptions::new().read(true).append(true).open(&tmp)
        })();
        #[cfg(test)]
        if self.crash_at.is_some_and(|c| c != CrashAt::Renamed) {
            return Ok(());
        }
        let new = match written.and_then(|f| std::fs::rename(&tmp, &self.path).map(|()| f)) {
            Ok(f) => f,
            Err(e) => {
                // nothing renamed: the old file is the log, complete
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        // from here the name is the new file: appends must go there
        let new = Arc::new(new);
        self.file = new.clone();
        *self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = new;
        self.file_len = bytes.len() as u64;
        self.compacted_len = self.file_len;
        self.compactions += 1;
        #[cfg(test)]
        if self.crash_at == Some(CrashAt::Renamed) {
            return Ok(());
        }
        if let Err(e) = File::open(&self.dir).and_then(|d| d.sync_all()) {
            self.failed = true;
            return Err(e);
        }
        Ok(())
    }
}

fn read_vote_file(path: &Path) -> std::io::Result<Option<Vote<NodeId>>> {
    let Some(bytes) = read_if_exists(path)? else {
        return Ok(None);
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
    replace_durably(dir, "vote", &[&crc32c::crc32c(&body).to_le_bytes(), &body])
}

/// The thread that makes appends durable and reports them (policies `Each` and `Group`).
fn spawn_flusher(
    slot: FileSlot,
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
                // the current file: a compaction may have replaced the one these appends went to
                // (they are in the new file too, fsynced before its rename)
                let file = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
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

impl LogStore {
    /// Writes appended entries (durability is reported by `append`'s callback).
    fn write_entries(&self, entries: impl IntoIterator<Item = Entry>) -> Result<(), StorageError> {
        let mut g = self.lock();
        for e in entries {
            let op = Op::Append(e);
            g.write_op(&op)?;
            let Op::Append(e) = op else { unreachable!() };
            g.entries.insert(e.log_id.index, e);
        }
        Ok(())
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
        self.write_entries(entries)?;
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
        g.maybe_compact()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Block;
    use openraft::{CommittedLeaderId, EntryPayload};
    use rfq_ring::Record;

    fn id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn entry(term: u64, index: u64) -> Entry {
        let recs: Vec<Record> = (0..4)
            .map(|i| Record {
                seq: index * 4 + i,
                qty: index as i64,
                ..Record::ZERO
            })
            .collect();
        Entry {
            log_id: id(term, index),
            payload: EntryPayload::Normal(Block::from_records(&recs)),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    fn file_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("raft-log")).unwrap().len()
    }

    /// Everything the reopened log holds: entries, last purged, committed, vote.
    fn contents(
        dir: &Path,
    ) -> (
        Vec<Entry>,
        Option<LogId>,
        Option<LogId>,
        Option<Vote<NodeId>>,
    ) {
        let mut s = LogStore::open(dir, LogSync::None).unwrap();
        rt().block_on(async {
            let st = s.get_log_state().await.unwrap();
            (
                s.try_get_log_entries(..).await.unwrap(),
                st.last_purged_log_id,
                s.read_committed().await.unwrap(),
                s.read_vote().await.unwrap(),
            )
        })
    }

    #[test]
    fn file_stays_bounded_over_many_purges_and_reopens_with_the_live_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LogStore::open(dir.path(), LogSync::Each)
            .unwrap()
            .with_compact_min(16 << 10);
        let keep = 50;
        let rounds = 4_000u64;
        let mut max_len = 0;
        rt().block_on(async {
            s.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
            for i in 1..=rounds {
                s.write_entries([entry(3, i)]).unwrap();
                s.save_committed(Some(id(3, i))).await.unwrap();
                if i > keep {
                    s.purge(id(3, i - keep)).await.unwrap();
                }
                max_len = max_len.max(file_len(dir.path()));
                assert_eq!(s.file_stats().0, file_len(dir.path()));
            }
        });
        let (_, compactions) = s.file_stats();
        let entry_frame = {
            let mut b = Vec::new();
            Inner::frame(&mut b, &Op::Append(entry(3, 1))).unwrap();
            b.len() as u64
        };
        // without compaction: ~rounds × (entry + committed + purge frames)
        assert!(compactions > 10, "compactions {compactions}");
        let live = keep * entry_frame;
        assert!(
            max_len < 2 * (live + 64) + (16 << 10) + 4 * entry_frame,
            "max file {max_len} B, live {live} B"
        );
        assert!(max_len * 20 < rounds * entry_frame, "max file {max_len} B");
        drop(s);
        let (entries, purged, committed, vote) = contents(dir.path());
        let want: Vec<Entry> = (rounds - keep + 1..=rounds).map(|i| entry(3, i)).collect();
        assert_eq!(entries, want);
        assert_eq!(purged, Some(id(3, rounds - keep)));
        assert_eq!(committed, Some(id(3, rounds)));
        assert_eq!(vote, Some(Vote::new_committed(3, 1)));
        assert!(!dir.path().join("raft-log.tmp").exists());
    }

    /// A log of entries 1..=20 with 1..=10 purged; a compaction at the purge crashes at `at`.
    fn crash_during_compaction(at: CrashAt) -> (tempfile::TempDir, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LogStore::open(dir.path(), LogSync::None)
            .unwrap()
            .with_compact_min(0);
        rt().block_on(async {
            s.save_vote(&Vote::new_committed(2, 1)).await.unwrap();
            s.write_entries((1..=20).map(|i| entry(2, i))).unwrap();
            s.save_committed(Some(id(2, 15))).await.unwrap();
            s.lock().crash_at = Some(at);
            s.purge(id(2, 10)).await.unwrap();
        });
        let before = s.file_stats().1;
        drop(s); // the process dies here
        (dir, before)
    }

    fn assert_live_log(dir: &Path) {
        let (entries, purged, committed, vote) = contents(dir);
        let want: Vec<Entry> = (11..=20).map(|i| entry(2, i)).collect();
        assert_eq!(entries, want);
        assert_eq!(purged, Some(id(2, 10)));
        assert_eq!(committed, Some(id(2, 15)));
        assert_eq!(vote, Some(Vote::new_committed(2, 1)));
        assert!(
            !dir.join("raft-log.tmp").exists(),
            "stale temp file removed"
        );
    }

    #[test]
    fn crash_before_the_rename_reopens_the_old_log() {
        // a torn temp file, and a complete fsynced one that never got the name
        for at in [CrashAt::TmpPartial, CrashAt::TmpSynced] {
            let (dir, compactions) = crash_during_compaction(at);
            assert_eq!(compactions, 0, "{at:?}");
            assert!(dir.path().join("raft-log.tmp").exists(), "{at:?}");
            let old_len = file_len(dir.path());
            assert_live_log(dir.path());
            assert_eq!(file_len(dir.path()), old_len, "{at:?}: the old file stays the log");
        }
    }

    #[test]
    fn crash_after_the_rename_reopens_the_compacted_log() {
        let (dir, compactions) = crash_during_compaction(CrashAt::Renamed);
        assert_eq!(compactions, 1);
        let len = file_len(dir.path());
        assert_live_log(dir.path());
        // the compacted file: purge mark, 10 entries, committed id
        let mut b = Vec::new();
        Inner::frame(&mut b, &Op::Purge(id(2, 10))).unwrap();
        for i in 11..=20 {
            Inner::frame(&mut b, &Op::Append(entry(2, i))).unwrap();
        }
        Inner::frame(&mut b, &Op::Committed(Some(id(2, 15)))).unwrap();
        assert_eq!(std::fs::read(dir.path().join("raft-log")).unwrap(), b);
        assert_eq!(len, b.len() as u64);
    }

    #[test]
    fn appends_after_a_compaction_go_to_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LogStore::open(dir.path(), LogSync::Each)
            .unwrap()
            .with_compact_min(0);
        rt().block_on(async {
            s.save_vote(&Vote::new_committed(2, 1)).await.unwrap();
            s.write_entries((1..=20).map(|i| entry(2, i))).unwrap();
            s.save_committed(Some(id(2, 15))).await.unwrap();
            s.purge(id(2, 10)).await.unwrap();
            assert_eq!(s.file_stats().1, 1);
            s.write_entries((21..=25).map(|i| entry(2, i))).unwrap();
            s.truncate(id(2, 24)).await.unwrap();
            s.save_committed(Some(id(2, 22))).await.unwrap();
        });
        drop(s);
        let (entries, purged, committed, _) = contents(dir.path());
        let want: Vec<Entry> = (11..=23).map(|i| entry(2, i)).collect();
        assert_eq!(entries, want);
        assert_eq!(purged, Some(id(2, 10)));
        assert_eq!(committed, Some(id(2, 22)));
    }
}
