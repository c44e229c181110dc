//! Rebuilding a [`Core`] from a journal of its merged input (crates `rfq-journal`), and checking
//! that the replay reproduces the recorded run.

use crate::core::{Core, Sink};
use crate::runner::RecoveryError;
use crate::snapshot::{list_snapshots, read_snapshot};
use rfq_journal::{JournalConfig, JournalError, JournalKey, JournalReader, OutputHash, TornTail};
use rfq_ring::Record;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a replay computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records replayed.
    pub records: u64,
    /// Output records the replay produced.
    pub outputs: u64,
    /// [`Core::state_hash`] after the last record.
    pub state_hash: u64,
    /// [`OutputHash`] of the whole output stream (equal to the recorded run's when nothing
    /// diverged: the runner computes the same hash over what it publishes).
    pub output_hash: u64,
    /// Sequence number of the last record replayed (0 = empty journal).
    pub last_seq: u64,
    /// Records that carried the recorded run's output hash (compared one by one).
    pub marks_checked: u64,
    /// First record after which the replay's output stream differs from the recorded one.
    pub first_divergence: Option<u64>,
    /// A torn tail at the end of the journal (ignored: never acknowledged).
    pub torn: Option<TornTail>,
    /// Wall time of the replay.
    pub elapsed: Duration,
}

/// Replays every committed record of the journal in `dir` into `core`, which must be freshly
/// built from the same configuration as the recorded core (and `fingerprint` the value the
/// journal was written with). Every record that carries the recorded output-stream hash is
/// compared with the replay's; the first mismatch is reported, the replay goes on.
///
/// The hash continues from `out_hash` (use [`OutputHash::new`] for a journal replayed from its
/// start).
///
/// An unkeyed reader: a keyed journal is refused ([`JournalError::KeyMissing`]); see
/// [`replay_into_keyed`].
///
/// # Errors
/// Any [`JournalError`] of the reader: damage is refused, never skipped.
pub fn replay_into(core: &mut Core, dir: &Path, fingerprint: u64, out_hash: OutputHash) -> Result<ReplayReport, JournalError> {
    replay_into_keyed(core, dir, fingerprint, None, out_hash)
}

/// [`replay_into`] verifying keyed segments with `key` (docs/journal.md, "Keyed chain").
///
/// # Errors
/// Any [`JournalError`] of the reader, among them [`JournalError::KeyMissing`] /
/// [`JournalError::WrongKey`] for a keyed journal without its key.
pub fn replay_into_keyed(core: &mut Core, dir: &Path, fingerprint: u64, key: Option<&JournalKey>, out_hash: OutputHash) -> Result<ReplayReport, JournalError> {
    let jc = JournalConfig { key: key.cloned(), ..JournalConfig::new(dir, fingerprint) };
    // the recovery replay from segment 0, keeping no outputs (keep_after = u64::MAX)
    replay_tail(core, &jc, None, out_hash, u64::MAX, &mut Vec::new()).map(|(rep, _)| rep)
}

/// Replays a journal that may start after a snapshot (a pruned journal, a cluster node's
/// generation begun by installing the leader's snapshot) into a freshly built `core`: the
/// newest snapshot in the journal's `snapshots/` is restored and the records after its anchor
/// replayed, the output hash continuing from the anchor's — or, without a snapshot, the whole
/// journal as [`replay_into`]. Returns the anchor's sequence number (0: replayed from the
/// start) and the report (its `records` counts the records after the anchor).
///
/// Unlike a runner's recovery, an unusable newest snapshot is an error, not a reason to try
/// an older one: this checks what a journal holds.
///
/// # Errors
/// [`RecoveryError::Snapshot`] for a snapshot that does not read or restore;
/// [`RecoveryError::Journal`] for the journal's own errors, among them an anchor that is not a
/// commit of this journal.
pub fn replay_from_snapshot(core: &mut Core, dir: &Path, fingerprint: u64) -> Result<(u64, ReplayReport), RecoveryError> {
    let jc = JournalConfig::new(dir, fingerprint);
    let newest = list_snapshots(dir).map_err(RecoveryError::Snapshot)?.into_iter().max_by_key(|(seq, _)| *seq);
    let Some((_, path)) = newest else {
        return replay_tail(core, &jc, None, OutputHash::new(), u64::MAX, &mut Vec::new()).map(|(rep, _)| (0, rep)).map_err(RecoveryError::Journal);
    };
    let (h, bytes) = read_snapshot(&path, Some(fingerprint)).map_err(RecoveryError::Snapshot)?;
    core.restore_snapshot(&mut bytes.as_slice()).map_err(RecoveryError::Snapshot)?;
    let anchor = Some((h.anchor.seq, h.anchor.chain));
    let (rep, _) = replay_tail(core, &jc, anchor, OutputHash::from_value(h.anchor.out_hash), u64::MAX, &mut Vec::new()).map_err(RecoveryError::Journal)?;
    Ok((h.anchor.seq, rep))
}

/// Replay sink of a recovery: hashes every output and keeps those of records after
/// `keep_after` (the outputs to publish again).
struct TailSink<'a> {
    hash: OutputHash,
    n: u64,
    seq: u64,
    keep_after: u64,
    kept: &'a mut Vec<Record>,
    kept_records: u64,
    last_kept_seq: u64,
}

impl Sink for TailSink<'_> {
    #[inline]
    fn emit(&mut self, rec: &Record) {
        self.hash.push(rec);
        self.n += 1;
        if self.seq > self.keep_after {
            self.kept.push(*rec);
        }
    }
}

/// Replays the journal of `jc` (its directory, fingerprint and key) into `core` after `anchor`
/// (`None`: the whole journal from segment 0;
/// `Some((seq, chain))`: a snapshot's commit, the core holding the snapshot's state),
/// continuing the output hash from `out_hash`. The outputs of records with sequence number
/// above `keep_after` are appended to `kept`. Returns the report (its `records` counts the
/// records replayed) and how many records' outputs were kept.
pub(crate) fn replay_tail(
    core: &mut Core,
    jc: &JournalConfig,
    anchor: Option<(u64, rfq_journal::Chain)>,
    out_hash: OutputHash,
    keep_after: u64,
    kept: &mut Vec<Record>,
) -> Result<(ReplayReport, u64), JournalError> {
    let t0 = Instant::now();
    let mut sink = TailSink { hash: out_hash, n: 0, seq: 0, keep_after, kept, kept_records: 0, last_kept_seq: 0 };
    let mut marks = 0;
    let mut first_divergence = None;
    let mut records = 0;
    let mut each = |seq: u64, rec: &Record, mark: Option<u64>| {
        sink.seq = seq;
        if seq > sink.keep_after && seq != sink.last_kept_seq {
            sink.kept_records += 1;
            sink.last_kept_seq = seq;
        }
        core.process(rec, &mut sink);
        records += 1;
        if let Some(m) = mark {
            marks += 1;
            if m != sink.hash.value() && first_divergence.is_none() {
                first_divergence = Some(seq);
            }
        }
    };
    let sum = match anchor {
        None => JournalReader::open(&jc.dir, jc.fingerprint)?.with_key(jc.key.clone()).for_each_from(1, &mut each)?,
        Some(a) => JournalReader::open_pruned(&jc.dir, jc.fingerprint)?.with_key(jc.key.clone()).for_each_after(a, &mut each)?,
    };
    let rep = ReplayReport {
        records,
        outputs: sink.n,
        state_hash: core.state_hash(),
        output_hash: sink.hash.value(),
        last_seq: sum.last_seq,
        marks_checked: marks,
        first_divergence,
        torn: sum.torn,
        elapsed: t0.elapsed(),
    };
    Ok((rep, sink.kept_records))
}
