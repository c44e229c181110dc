//! One error map: each core error becomes its own Python exception class.
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(rfqcore_core, RfqCoreError, PyException, "Base class of every rfqcore_core error.");
create_exception!(rfqcore_core, RingError, RfqCoreError, "A ring file is missing, malformed or misused.");
create_exception!(rfqcore_core, BookError, RfqCoreError, "A book update was refused (nothing changed).");
create_exception!(rfqcore_core, ConfigError, RfqCoreError, "An instrument/composite/engine setting is invalid.");
create_exception!(rfqcore_core, JournalError, RfqCoreError, "A journal is damaged, of another configuration, or cannot be written (the message names file and offset).");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RfqCoreError", py.get_type::<RfqCoreError>())?;
    m.add("RingError", py.get_type::<RingError>())?;
    m.add("BookError", py.get_type::<BookError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("JournalError", py.get_type::<JournalError>())?;
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

pub fn journal_err(e: rfq_journal::JournalError) -> PyErr {
    JournalError::new_err(e.to_string())
}
