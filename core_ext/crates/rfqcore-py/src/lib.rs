//! `rfqcore_core`: the one PyO3 binding over the pure-Rust rfqcore crates.
//!
//! Types cross the boundary in one module (`conversion/`); each core error maps to its own
//! Python exception class (`errors.rs`), the roots of the one hierarchy `rfqcore.errors`. Prices and quantities cross as Python `int`s in
//! fixed-point units; nothing here takes or returns a float.
#![deny(unsafe_code)]

#[cfg(feature = "bench")]
mod bench;
mod book;
mod cluster;
mod conversion;
mod engine;
mod errors;
mod gateway;
mod journal;
mod matching;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfq_ring::{header_layout, record_layout, RingFile, HEADER_SIZE, RECORD_SIZE};

/// Field name → (offset, size) of the Rust `#[repr(C)] Record`.
#[pyfunction(name = "record_layout")]
fn py_record_layout(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    layout_dict(py, &record_layout())
}

fn layout_dict<'py>(py: Python<'py>, fields: &[(&'static str, usize, usize)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for &(name, off, size) in fields {
        d.set_item(name, (off, size))?;
    }
    Ok(d)
}

/// Field name → (offset, size) of the ring file header.
#[pyfunction(name = "ring_header_layout")]
fn py_ring_header_layout(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    layout_dict(py, &header_layout())
}

/// Create (or truncate) a ring file holding `capacity` records (a power of two).
#[pyfunction]
fn ring_create(path: &str, capacity: usize) -> PyResult<()> {
    RingFile::create(path, capacity).map(drop).map_err(errors::ring_err)
}

#[pymodule]
fn rfqcore_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RECORD_SIZE", RECORD_SIZE)?;
    m.add("RING_HEADER_SIZE", HEADER_SIZE)?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(py_record_layout, m)?)?;
    m.add_function(wrap_pyfunction!(py_ring_header_layout, m)?)?;
    m.add_function(wrap_pyfunction!(ring_create, m)?)?;
    m.add_class::<book::Book>()?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<cluster::ClusterNode>()?;
    m.add_class::<gateway::NativeGateway>()?;
    journal::register(m)?;
    matching::register(m)?;
    #[cfg(feature = "bench")]
    bench::register(m)?;
    Ok(())
}
