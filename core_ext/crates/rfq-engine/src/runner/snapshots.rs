//! Snapshot scheduling of a journaled runner: periodic snapshots encoded on the core thread at
//! a durable, published point and written on a helper thread; synchronous ones on request; the
//! keep/prune policy.

use super::Runner;
use crate::snapshot::{list_snapshots, write_snapshot_file, SnapshotAnchor, SnapshotError, SnapshotWritten};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Snapshot policy and bookkeeping of a journaled runner.
#[derive(Default)]
pub(super) struct Snapshots {
    /// Take one every this many journaled records (0 = never automatically).
    pub(super) every: u64,
    /// Snapshot files kept (older ones are deleted after a new one is written; ≥ 1).
    pub(super) keep: usize,
    /// Delete journal segments entirely before the oldest kept snapshot.
    pub(super) prune: bool,
    /// Sequence number of the last snapshot taken (or recovered from).
    pub(super) last_seq: u64,
    /// The background write of the last periodic snapshot.
    pub(super) job: Option<JoinHandle<Result<PathBuf, SnapshotError>>>,
    pub(super) stats: SnapshotStats,
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

impl Runner {
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
    pub(super) fn reap_snapshot(&mut self, wait: bool) {
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
        if j.fenced {
            return Err(SnapshotError::Usage("this node lost leadership: its core ran ahead of the committed log; rebuild it from the committed state".into()));
        }
        let seq = j.writer.committed_seq();
        if seq == 0 {
            return Err(SnapshotError::Usage("nothing journaled yet".into()));
        }
        if j.publishable() != seq {
            return Err(SnapshotError::Usage("the cluster has not committed everything journaled yet (replication gate): retry once it has".into()));
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
    pub(super) fn maybe_snapshot(&mut self) {
        let Some(j) = self.journal.as_deref() else { return };
        if j.snap.every == 0 || j.error.is_some() {
            return;
        }
        let seq = j.writer.committed_seq();
        if seq < j.snap.last_seq.saturating_add(j.snap.every)
            || j.publishable() != seq
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
