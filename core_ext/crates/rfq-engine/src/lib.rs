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

#[cfg(feature = "bench")]
pub mod benchdata;
mod codec;
mod core;
mod dedup;
mod hash;
mod hedge;
mod positions;
mod pricing;
mod replay;
mod rfq;
mod risk;
mod runner;
mod snapshot;
mod state;
mod workflow;

pub use crate::core::{Core, CoreConfig, Sink, Stats};
pub use rfq_ring::record::{desk_event, hedge_reject};
pub use crate::hedge::{HedgeOrderView, HedgeView, MAX_HEDGE_OUT, MAX_INTERNAL_FILLS};
pub use crate::pricing::QuoteLevel;
pub use crate::replay::{replay_into, ReplayReport};
pub use crate::positions::Position;
pub use crate::rfq::{
    ClientView, InstrumentView, PendingView, PositionView, QuoteState, QuoteView, RfqStats, DEDUP_RESERVE,
    HOUSEKEEPING_PER_RECORD, KILL_SCAN_PER_RECORD,
};
pub use crate::risk::MAX_EXEC_COUNT;
pub use crate::runner::{
    read_published_marker, Command, RecoveryError, RecoveryReport, Runner, RunnerHandle, SnapshotStats, HEARTBEAT_SOURCE, PUBLISHED_MARKER,
};
pub use crate::workflow::MAX_RFQ_OUT;
pub use crate::state::{BookStatus, InstrumentState};
pub use crate::snapshot::{
    check_snapshot, list_snapshots, parse_snapshot_name, read_snapshot, snapshot_dir, snapshot_name, write_snapshot_file, SnapshotAnchor,
    SnapshotError, SnapshotHeader, SnapshotWritten, SNAPSHOT_HEADER, SNAPSHOT_MAGIC, SNAPSHOT_MIN_VERSION, SNAPSHOT_VERSION,
};
