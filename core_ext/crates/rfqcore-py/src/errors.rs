//! One error map: each core error becomes its own Python exception class.
//!
//! These classes are the whole rfqcore hierarchy's roots: `rfqcore.errors` re-exports them and
//! adds the Python-only subclasses (`DecodeError` and its family, `RingTimeout`), so
//! `except rfqcore.errors.RingError` catches a ring error whether Rust, Cython or Python raised it.
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(rfqcore.errors, RfqCoreError, PyException, "Base class of every rfqcore error, raised from Rust, Cython or Python.");
create_exception!(rfqcore.errors, RingError, RfqCoreError, "A ring file is invalid (the message names the header field), missing or misused.");
create_exception!(rfqcore.errors, BookError, RfqCoreError, "A book update was refused (nothing changed).");
create_exception!(rfqcore.errors, ConfigError, RfqCoreError, "Invalid instrument, composite or engine configuration (the message names the entry and key).");
create_exception!(rfqcore.errors, JournalError, RfqCoreError, "A journal is damaged, of another configuration, or cannot be written (the message names file and offset).");
create_exception!(
    rfqcore.errors,
    ClusterError,
    RfqCoreError,
    "A cluster node could not start (bad cluster file, data directory in use, status port taken) or could not take or keep leadership."
);
create_exception!(
    rfqcore.errors,
    MatchingError,
    RfqCoreError,
    "A matching request was malformed (bad mode string, side, or request array); nothing was applied."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RfqCoreError", py.get_type::<RfqCoreError>())?;
    m.add("RingError", py.get_type::<RingError>())?;
    m.add("BookError", py.get_type::<BookError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("JournalError", py.get_type::<JournalError>())?;
    m.add("MatchingError", py.get_type::<MatchingError>())?;
    m.add("ClusterError", py.get_type::<ClusterError>())?;
    Ok(())
}

pub fn ring_err(e: rfq_ring::RingError) -> PyErr {
    RingError::new_err(e.to_string())
}

pub fn book_err(e: rfq_book::BookError) -> PyErr {
    BookError::new_err(e.to_string())
}

pub fn config_err(e: impl std::fmt::Display) -> PyErr {
    ConfigError::new_err(e.to_string())
}

pub fn journal_err(e: impl std::fmt::Display) -> PyErr {
    JournalError::new_err(e.to_string())
}

pub fn matching_err(msg: String) -> PyErr {
    MatchingError::new_err(msg)
}
