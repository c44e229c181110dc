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
mod core;
mod replay;
mod runner;
mod snapshot;

pub use crate::core::{Core, CoreConfig, Sink, Stats};
pub use rfq_desk::{
    ClientView, InstrumentView, PendingView, PositionView, QuoteState, QuoteView, RfqStats, DEDUP_RESERVE,
    HOUSEKEEPING_PER_RECORD, KILL_SCAN_PER_RECORD, MAX_EXEC_COUNT, MAX_RFQ_OUT,
};
pub use rfq_hedge::{HedgeOrderView, HedgeView, MAX_HEDGE_OUT, MAX_INTERNAL_FILLS};
pub use rfq_kernel::positions::Position;
pub use rfq_kernel::pricing::QuoteLevel;
pub use rfq_market::{BookStatus, InstrumentState};
pub use rfq_ring::record::{desk_event, hedge_reject};
pub use crate::replay::{replay_from_snapshot, replay_into, replay_into_keyed, ReplayReport};
pub use crate::runner::{
    read_published_marker, block_ring, BlockConsumer, BlockProducer, CommitGate, Command, RecoveryError, RecoveryReport, Runner, RunnerHandle, SnapshotStats, HEARTBEAT_SOURCE, PUBLISHED_MARKER,
};
pub use crate::snapshot::{
    check_snapshot, list_snapshots, parse_snapshot_name, read_snapshot, snapshot_dir, snapshot_name, write_snapshot_file, SnapshotAnchor,
    SnapshotError, SnapshotHeader, SnapshotWritten, SNAPSHOT_HEADER, SNAPSHOT_MAGIC, SNAPSHOT_MIN_VERSION, SNAPSHOT_VERSION,
};
