//! Counters, latency histograms and journal/snapshot reports → Python dicts.
//!
//! Where the binding gathers a report from several core calls, the gathered values get a named
//! struct here (`CoreStatsView`, `JournalStatsView`, `SnapshotMade`, `SnapshotFile`).
use super::{hex, nonzero_counts, ToDict};
use hdrhistogram::Histogram;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfq_engine::{RecoveryReport, ReplayReport, SnapshotHeader, SnapshotWritten, Stats};
use rfq_journal::{ReadSummary, WriterStats};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `Engine.stats()`: the core's counters and the level count of each venue book.
pub struct CoreStatsView {
    pub stats: Stats,
    /// (instrument id, levels) per venue book.
    pub book_levels: Vec<(u16, usize)>,
}

impl ToDict for CoreStatsView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.stats;
        Ok(dict!(py;
            "records" => s.records,
            "messages" => s.messages,
            "rejects" => s.rejects,
            "level_updates" => s.level_updates,
            "quotes" => s.quotes,
            "status_changes" => s.status_changes,
            "repricings" => s.repricings,
            "rejects_by_reason" => nonzero_counts(py, &s.rejects_by_reason)?,
            "book_levels" => self.book_levels.iter().copied().collect::<BTreeMap<_, _>>(),
        ))
    }
}

/// A latency histogram: `count`, `min`, `mean`, `p50`…`p9999`, `max` in ns (zeros when empty),
/// and `counts`, every recorded bucket as `(highest equivalent value, count)` (what rebuilds the
/// histogram on the Python side: `rfqcore.latency.LatencyRecorder.from_counts`).
impl ToDict for Histogram<u64> {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let empty = self.is_empty();
        let q = |x: f64| if empty { 0 } else { self.value_at_quantile(x) };
        Ok(dict!(py;
            "count" => self.len(),
            "min" => if empty { 0 } else { self.min() },
            "mean" => if empty { 0.0 } else { self.mean() },
            "p50" => q(0.5),
            "p90" => q(0.9),
            "p99" => q(0.99),
            "p999" => q(0.999),
            "p9999" => q(0.9999),
            "max" => if empty { 0 } else { self.max() },
            "counts" => self.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect::<Vec<_>>(),
        ))
    }
}

impl ToDict for ReplayReport {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "records" => self.records,
            "outputs" => self.outputs,
            "state_hash" => self.state_hash,
            "output_hash" => self.output_hash,
            "last_seq" => self.last_seq,
            "marks_checked" => self.marks_checked,
            "first_divergence" => self.first_divergence,
            "torn_bytes" => self.torn.as_ref().map_or(0, |t| t.bytes),
            "elapsed" => self.elapsed.as_secs_f64(),
        ))
    }
}

/// The replay report of the tail, then what recovery found (`Engine.attach_journal`).
impl ToDict for RecoveryReport {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.replay.to_dict(py)?;
        let rejected: Vec<(String, String)> =
            self.rejected_snapshots.iter().map(|(p, why)| (p.display().to_string(), why.clone())).collect();
        d.update(dict!(py;
            "snapshot" => self.snapshot.as_ref().map(|p| p.display().to_string()),
            "snapshot_seq" => self.snapshot_seq,
            "tail_records" => self.replay.records,
            "snapshots_rejected" => rejected,
            "published_seq" => self.published_seq,
            "republished_records" => self.republished_records,
            "republished_outputs" => self.republished_outputs,
        ).as_mapping())?;
        Ok(d)
    }
}

/// `Engine.snapshot_now()`: where the snapshot went, what it holds, how long encoding took.
pub struct SnapshotMade {
    pub path: PathBuf,
    pub written: SnapshotWritten,
    pub encode_ns: u64,
}

impl ToDict for SnapshotMade {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "path" => self.path.display().to_string(),
            "seq" => self.written.header.anchor.seq,
            "bytes" => self.written.bytes,
            "state_hash" => self.written.header.state_hash,
            "encode_seconds" => self.encode_ns as f64 * 1e-9,
        ))
    }
}

/// `Engine.journal_stats()`: the attached journal's writer and the runner's output hash.
pub struct JournalStatsView {
    pub committed_seq: u64,
    pub durable_seq: u64,
    pub writer: WriterStats,
    pub segment: String,
    /// The hash of the published output stream (`Runner::output_hash`).
    pub output_hash: Option<u64>,
    /// The I/O error that stopped the core, if any.
    pub error: Option<String>,
}

impl ToDict for JournalStatsView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "committed_seq" => self.committed_seq,
            "durable_seq" => self.durable_seq,
            "commits" => self.writer.commits,
            "syncs" => self.writer.syncs,
            "bytes" => self.writer.bytes,
            "segments_created" => self.writer.segments_created,
            "segment" => &self.segment,
            "output_hash" => self.output_hash,
            "error" => &self.error,
        ))
    }
}

/// `verify_journal()`.
impl ToDict for ReadSummary {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "segments" => self.segments,
            "last_seq" => self.last_seq,
            "bytes" => self.bytes,
            "chain" => hex(&self.chain),
            "torn_bytes" => self.torn.as_ref().map_or(0, |t| t.bytes),
            "key_id" => self.key_id.as_ref().map(rfq_journal::key_id_hex),
            "unkeyed_segments" => self.unkeyed_segments,
        ))
    }
}

/// `snapshot_info()`: a snapshot file's header and its size.
pub struct SnapshotFile {
    pub header: SnapshotHeader,
    pub bytes: usize,
}

impl ToDict for SnapshotFile {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = &self.header;
        Ok(dict!(py;
            "version" => h.version,
            "fingerprint" => h.anchor.fingerprint,
            "seq" => h.anchor.seq,
            "chain" => hex(&h.anchor.chain),
            "output_hash" => h.anchor.out_hash,
            "state_hash" => h.state_hash,
            "bytes" => self.bytes,
        ))
    }
}
