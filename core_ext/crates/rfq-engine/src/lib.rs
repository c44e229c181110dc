//! The rfqcore core thread.
//!
//! [`Core`] owns every piece of trading state (venue books, composites, quotes) and is the only
//! thing that mutates it. It is deterministic: it reads no clock and no randomness; time comes
//! from the `ts_recv` of the records it consumes. Feeding the same records always produces the
//! same outputs and the same [`Core::state_hash`].
//!
//! [`Runner`] drives a `Core` from input rings (merged round-robin, one whole venue message at
//! a time) to an output ring, inline (`run_once`) or on its own thread ([`Runner::spawn`]).
#![deny(missing_docs, unsafe_code)]

mod core;
mod hash;
mod pricing;
mod runner;
mod state;

pub use crate::core::{Core, CoreConfig, Sink, Stats};
pub use crate::pricing::QuoteLevel;
pub use crate::runner::{Command, Runner, RunnerHandle};
pub use crate::state::{BookStatus, InstrumentState};
