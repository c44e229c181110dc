//! A core from the Python configuration dicts, its fingerprint, and the journal policy.
use crate::conversion::{composite, instrument, rfq_config};
use crate::errors::config_err;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rfq_engine::{Core, CoreConfig};
use rfq_journal::Durability;

/// The core's configuration from the Python config dicts: the [`CoreConfig`], the composite
/// members excluded at start (`(composite, instrument)`, applied with `Core::set_member`) and the
/// configuration fingerprint (of both).
pub fn core_config(
    instruments: &Bound<'_, PyList>,
    composites: &Bound<'_, PyList>,
    book_capacity: usize,
    rfq: Option<&Bound<'_, PyDict>>,
) -> PyResult<(CoreConfig, Vec<(u16, u16)>, u64)> {
    let mut insts = Vec::new();
    for d in instruments.iter() {
        insts.push(instrument(d.cast::<PyDict>()?)?);
    }
    let mut comps = Vec::new();
    let mut exclusions = Vec::new();
    for d in composites.iter() {
        let (spec, excluded) = composite(d.cast::<PyDict>()?)?;
        exclusions.extend(excluded.into_iter().map(|i| (spec.id, i)));
        comps.push(spec);
    }
    let rfq = match rfq {
        Some(d) => rfq_config(d)?,
        None => Default::default(),
    };
    let cfg = CoreConfig { instruments: insts, composites: comps, book_capacity, rfq };
    let fingerprint = fingerprint(&format!("{cfg:?} exclusions={exclusions:?}"));
    Ok((cfg, exclusions, fingerprint))
}

/// Builds a core from the Python config dicts (exclusions applied) and its config fingerprint.
pub fn build_core(
    instruments: &Bound<'_, PyList>,
    composites: &Bound<'_, PyList>,
    book_capacity: usize,
    rfq: Option<&Bound<'_, PyDict>>,
) -> PyResult<(Core, u64)> {
    let (cfg, exclusions, fingerprint) = core_config(instruments, composites, book_capacity, rfq)?;
    let mut core = Core::new(cfg).map_err(config_err)?;
    for (c, i) in exclusions {
        core.set_member(c, i, false).map_err(config_err)?;
    }
    Ok((core, fingerprint))
}

/// FNV-1a of the configuration's debug text: equal configurations (same build) give equal values.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A durability policy from its Python name.
pub fn durability(policy: &str, group_max_records: u64, group_max_ns: u64) -> PyResult<Durability> {
    match policy {
        "none" => Ok(Durability::None),
        "group" => Ok(Durability::GroupCommit { max_records: group_max_records, max_ns: group_max_ns }),
        "fsync_each" => Ok(Durability::FsyncEach),
        other => Err(config_err(format!("journal policy {other:?}: expected 'none', 'group' or 'fsync_each'"))),
    }
}

/// The refusal of a live change that bypasses the input records while a journal is attached.
pub fn not_journaled(what: &str) -> PyErr {
    config_err(format!(
        "{what} changes the core outside its input records, so a journal replay would diverge; with a journal attached use a CONTROL record (Operator) instead"
    ))
}
