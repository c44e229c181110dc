//! The one conversion module: every type that crosses the Python boundary crosses it here.
//!
//! - [`config`]: Python dicts → core configuration types (`Instrument`, `CompositeSpec`, `RfqConfig`).
//! - Rust → Python: one [`ToDict`] impl per view or report type ([`views`] for the engine's query
//!   views, [`reports`] for journal/snapshot reports and latency histograms), turned into a
//!   Python object by wrapping it in [`Wrap`], polars' `Wrap<T>` pattern. A `#[pymethods]`
//!   function returns `Wrap<View>` (or `Option`/`Vec` of it) and PyO3 does the rest.
//! - [`matching`]: matching-core events as the plain tuples `MatchingBook` returns.
//!
//! Dict keys, value types and key order are the Python API (`rfqcore_core.pyi`, the tests).
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `dict!(py; "key" => value, ...)`: a new dict with these items, in this order (`?` on error).
macro_rules! dict {
    ($py:expr; $($key:literal => $value:expr),+ $(,)?) => {{
        let d = pyo3::types::PyDict::new($py);
        $(d.set_item($key, $value)?;)+
        d
    }};
}

pub mod config;
pub mod matching;
pub mod reports;
pub mod views;

pub use config::{composite, instrument, rfq_config, to_side};
pub use reports::{CoreStatsView, JournalStatsView, SnapshotFile, SnapshotMade};

/// A Rust value on its way to Python (see [`ToDict`]).
#[repr(transparent)]
pub struct Wrap<T>(pub T);

/// A Rust value that Python sees as a dict of exact values.
pub trait ToDict {
    /// The dict, keys in the documented order.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>>;
}

impl<'py, T: ToDict> IntoPyObject<'py> for Wrap<T> {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.0.to_dict(py)
    }
}

/// `{code: count}` of the non-zero counters of a per-code table.
fn nonzero_counts<'py>(py: Python<'py>, counts: &[u64]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (code, n) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
        d.set_item(code, n)?;
    }
    Ok(d)
}

/// Lower-case hex of a hash chain value.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
