//! Journal and snapshot tools that need no running engine: replay, verify, inspect.
use crate::conversion::{SnapshotFile, Wrap};
use crate::engine::build::build_core;
use crate::errors::journal_err;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rfq_engine::ReplayReport;
use rfq_journal::{JournalKey, ReadSummary};
use std::path::PathBuf;

/// The journal key of a binding call: `key=None` reads `RFQCORE_JOURNAL_KEY` (unset or empty: no
/// key), `key=""` means no key, anything else is the secret itself (64 hex digits or a passphrase).
pub fn journal_key(key: Option<&str>) -> PyResult<Option<JournalKey>> {
    match key {
        None => JournalKey::from_env(),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => JournalKey::from_secret(s).map(Some),
    }
    .map_err(journal_err)
}

/// Rebuild a core from scratch by replaying a journal; returns records, state_hash,
/// output_hash, outputs, last_seq, marks_checked, first_divergence (None = identical to the
/// recorded run), torn_bytes, elapsed (s). Nothing is modified on disk. Keyed segments are
/// verified with `key` (see `journal_key`).
#[pyfunction]
#[pyo3(signature = (dir, instruments, composites, rfq = None, fingerprint = None, book_capacity = 65536, key = None))]
#[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
pub fn replay_journal<'py>(
    py: Python<'py>,
    dir: &str,
    instruments: &Bound<'py, PyList>,
    composites: &Bound<'py, PyList>,
    rfq: Option<&Bound<'py, PyDict>>,
    fingerprint: Option<u64>,
    book_capacity: usize,
    key: Option<&str>,
) -> PyResult<Wrap<ReplayReport>> {
    let key = journal_key(key)?;
    let (mut core, fp) = build_core(instruments, composites, book_capacity, rfq)?;
    let fp = fingerprint.unwrap_or(fp);
    let dir = PathBuf::from(dir);
    let rep = py.detach(|| rfq_engine::replay_into_keyed(&mut core, &dir, fp, key.as_ref(), rfq_journal::OutputHash::new())).map_err(journal_err)?;
    Ok(Wrap(rep))
}

/// Rebuild a core from a journal that may start after a snapshot (a pruned journal, a cluster
/// node's generation after it installed the leader's snapshot): its newest snapshot restored,
/// the records after its anchor replayed (or, without a snapshot, the whole journal). Returns
/// `(snapshot_seq, report)`: the anchor's sequence number (0: from the start) and the replay
/// report, `records` counting the records after the anchor. Unkeyed journals only.
#[pyfunction]
#[pyo3(signature = (dir, instruments, composites, rfq = None, fingerprint = None, book_capacity = 65536))]
pub fn replay_journal_after_snapshot<'py>(
    py: Python<'py>,
    dir: &str,
    instruments: &Bound<'py, PyList>,
    composites: &Bound<'py, PyList>,
    rfq: Option<&Bound<'py, PyDict>>,
    fingerprint: Option<u64>,
    book_capacity: usize,
) -> PyResult<(u64, Wrap<ReplayReport>)> {
    let (mut core, fp) = build_core(instruments, composites, book_capacity, rfq)?;
    let fp = fingerprint.unwrap_or(fp);
    let dir = PathBuf::from(dir);
    let (seq, rep) = py.detach(|| rfq_engine::replay_from_snapshot(&mut core, &dir, fp)).map_err(journal_err)?;
    Ok((seq, Wrap(rep)))
}

/// The configuration fingerprint `replay_journal` uses by default: FNV-1a of the parsed core
/// configuration (same values, same build → same fingerprint).
#[pyfunction]
#[pyo3(signature = (instruments, composites, rfq = None, book_capacity = 65536))]
pub fn config_fingerprint(
    instruments: &Bound<'_, PyList>,
    composites: &Bound<'_, PyList>,
    rfq: Option<&Bound<'_, PyDict>>,
    book_capacity: usize,
) -> PyResult<u64> {
    build_core(instruments, composites, book_capacity, rfq).map(|(_, fp)| fp)
}

/// Verify a journal without replaying it (every CRC, sequence number and chain link, keyed
/// segments with `key`, see `journal_key`); returns segments, last_seq, bytes, chain (hex),
/// torn_bytes, key_id (hex, None: unkeyed), unkeyed_segments.
#[pyfunction]
#[pyo3(signature = (dir, fingerprint, key = None))]
pub fn verify_journal(py: Python<'_>, dir: &str, fingerprint: u64, key: Option<&str>) -> PyResult<Wrap<ReadSummary>> {
    let key = journal_key(key)?;
    let dir = PathBuf::from(dir);
    py.detach(|| rfq_journal::verify(&dir, fingerprint, key.as_ref(), None)).map(Wrap).map_err(journal_err)
}

/// Header of a snapshot file, with its body checked: version, fingerprint, seq, chain (hex),
/// output_hash, state_hash, bytes. Raises JournalError if the file is damaged.
#[pyfunction]
pub fn snapshot_info(py: Python<'_>, path: &str) -> PyResult<Wrap<SnapshotFile>> {
    let p = PathBuf::from(path);
    let (header, body) = py.detach(|| rfq_engine::read_snapshot(&p, None)).map_err(journal_err)?;
    Ok(Wrap(SnapshotFile { header, bytes: body.len() }))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(replay_journal, m)?)?;
    m.add_function(wrap_pyfunction!(replay_journal_after_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(config_fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(verify_journal, m)?)?;
    m.add_function(wrap_pyfunction!(snapshot_info, m)?)?;
    Ok(())
}
