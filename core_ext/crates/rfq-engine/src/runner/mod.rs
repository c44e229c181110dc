//! Driving a [`Core`] from input rings to the output ring: inline or on the core thread.
//!
//! ## Merge order
//! Input rings are polled round-robin in registration order. From the current ring the runner
//! takes up to `batch` records, but never stops in the middle of a venue message: it moves to
//! the next ring only after a record flagged `END`. A message whose tail has not been published
//! yet keeps the runner on that ring (inline mode returns and resumes there). So records of
//! different producers never interleave inside a message, and the order the core saw is a pure
//! function of what each ring held — the order a journal records.
//!
//! ## Back-pressure
//! Before consuming input the runner checks that the output ring — and the tap ring, if one is
//! registered — has room for everything the records could produce
//! ([`Core::max_out_per_record`] each). If not, the input stays in its ring: nothing is ever
//! dropped, the slow consumer slows the producers.
//!
//! ## Tap
//! [`Runner::add_tap`] registers a second output ring that receives a copy of every RFQ-workflow
//! output (kinds 110..=120: quotes to clients, rejects, executions, quote ends, approvals,
//! risk events, control acks) — what the client gateway needs — while the main output ring
//! still receives everything.
//!
//! ## Heartbeat
//! With [`Runner::set_heartbeat`], the core thread processes a synthetic `HEARTBEAT` (flags
//! `END`, `ts_recv` = `CLOCK_REALTIME` ns, `source` = `0xFFFF`) whenever no input was processed
//! for the interval, so quotes expire in an idle system. Off by default; inline runs
//! (`run_once`) move time only with records.
//!
//! ## Journal
//! With [`Runner::set_journal`], every input record the core consumes (injected heartbeats too)
//! is appended to an `rfq_journal::JournalWriter` **before** the outputs it caused become
//! visible: outputs are written into the out/tap rings unpublished
//! (`Producer::write_unpublished`), the batch's records are appended and committed, and only
//! once the commit is durable under the journal's policy are the outputs published (one Release
//! store per ring). Under group commit, outputs stay staged until the group's fdatasync (forced
//! early when the out ring fills, before a command is served, and at stop). Each journaled
//! record carries the running [`OutputHash`](rfq_journal::OutputHash) of the output stream
//! after it, so a replay can name the first record whose outputs differ. A journal I/O error
//! stops the runner for good (no further input, nothing more published): it is reported by
//! [`Runner::journal_error`].
//!
//! On the core thread ([`Runner::spawn`], or [`Runner::set_journal_sync_thread`]) the journal's
//! `write(2)` and fdatasync run on a **journal sync thread**
//! (`JournalWriter::start_sync_thread`): a commit only hands the framed block over, and the core
//! goes on consuming input and staging outputs while the disk syncs. Each committed batch leaves
//! `(journal seq, out ring position, tap position)` in a FIFO; every loop iteration the core
//! reads the writer's atomic durable sequence and publishes the staged outputs up to the
//! position of the last batch it covers (`Producer::publish_up_to`: one Release store per
//! ring), so outputs become visible in order and never before every input record that precedes
//! them is durable. The sync thread unparks the core thread when durability advances.
//!
//! ## Layout
//! `mod.rs` the [`Runner`] and its plain accessors; `merge.rs` the round-robin merge and
//! back-pressure; `sink.rs` the ring sink the core writes into; `durability.rs` journal
//! staging and the publication of committed batches; `marker.rs` the published marker;
//! `snapshots.rs` snapshot scheduling; `recovery.rs` crash recovery and re-publication; `replication.rs` the commit gate and block ring of a replicated runner;
//! `heartbeat.rs` idle heartbeats; `thread.rs` the core thread, its commands and handle.

mod durability;
mod heartbeat;
mod marker;
mod merge;
mod recovery;
mod replication;
mod sink;
mod snapshots;
mod thread;

pub use heartbeat::HEARTBEAT_SOURCE;
pub use marker::{read_published_marker, PUBLISHED_MARKER};
pub use recovery::{RecoveryError, RecoveryReport};
pub use snapshots::SnapshotStats;
pub use replication::{block_ring, BlockConsumer, BlockProducer, CommitGate};
pub use thread::{Command, RunnerHandle};

use crate::core::Core;
use durability::Journal;
use hdrhistogram::Histogram;
use rfq_ring::{Consumer, Producer, Record};

/// Records taken from one ring before moving on (at a message boundary).
pub const DEFAULT_BATCH: usize = 256;

/// A core plus its rings.
pub struct Runner {
    core: Core,
    inputs: Vec<Consumer>,
    out: Producer,
    current: usize,
    in_message: bool,
    batch: usize,
    out_waits: u64,
    tick_to_quote: Histogram<u64>,
    rfq_to_quote: Histogram<u64>,
    gateway_in: Histogram<u64>,
    tap: Option<Producer>,
    heartbeat_ns: Option<u64>,
    heartbeats: u64,
    journal: Option<Box<Journal>>,
    /// Outputs regenerated by recovery, published again before any new output.
    republish: Vec<Record>,
    republish_at: usize,
    /// Journal sequence the marker is set to once `republish` is drained.
    republish_seq: u64,
    /// Journal I/O on a sync thread: the explicit choice ([`Runner::set_journal_sync_thread`]),
    /// else on while running as the core thread.
    sync_thread: Option<bool>,
    /// Running on the core thread ([`Runner::spawn`]).
    threaded: bool,
}

/// Longest tick-to-quote latency tracked (larger values are clamped to it).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

impl Runner {
    /// A runner publishing to `out`.
    pub fn new(core: Core, out: Producer) -> Runner {
        Runner {
            core,
            inputs: Vec::new(),
            out,
            current: 0,
            in_message: false,
            batch: DEFAULT_BATCH,
            out_waits: 0,
            tick_to_quote: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            rfq_to_quote: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            gateway_in: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds"),
            tap: None,
            heartbeat_ns: None,
            heartbeats: 0,
            journal: None,
            republish: Vec::new(),
            republish_at: 0,
            republish_seq: 0,
            sync_thread: None,
            threaded: false,
        }
    }

    /// Register an input ring; returns its index (its place in the merge order).
    pub fn add_input(&mut self, input: Consumer) -> usize {
        self.inputs.push(input);
        self.inputs.len() - 1
    }

    /// Number of input rings.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The core (read-only).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The core (mutable; only while no thread runs it).
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// Tick-to-quote latency: from a record's `ts_send` (stamped by its producer) to the moment
    /// the quotes it caused were published on the output ring, in ns. Measured by the runner,
    /// outside the deterministic core (the core never reads a clock).
    pub fn tick_to_quote(&self) -> &Histogram<u64> {
        &self.tick_to_quote
    }

    /// RFQ-to-quote latency: from an `RFQ` record's `ts_send` to the moment its answer
    /// (`RFQ_QUOTE`, `RFQ_REJECT` or `APPROVAL_PENDING`) was published, in ns.
    pub fn rfq_to_quote(&self) -> &Histogram<u64> {
        &self.rfq_to_quote
    }

    /// Gateway-in latency of RFQs: from the client's send time (`ts_event`, stamped by the
    /// client) to the gateway handing the RFQ on (`ts_recv`, stamped by the gateway), in ns.
    /// Both are wall clocks, so the figure means something for clients on the desk's host (the
    /// co-located ones); only RFQs whose sender stamped an earlier send time are counted (the
    /// Aeron gateway's; the Python API and FIX stamp one time for both). Read off the records
    /// as they pass, outside the deterministic core.
    pub fn gateway_in(&self) -> &Histogram<u64> {
        &self.gateway_in
    }

    /// Forget the latency recorded so far (every histogram).
    pub fn reset_latency(&mut self) {
        self.tick_to_quote.reset();
        self.rfq_to_quote.reset();
        self.gateway_in.reset();
    }

    /// Times the runner found the output ring too full to consume input.
    pub fn out_waits(&self) -> u64 {
        self.out_waits
    }

    /// Register the tap ring: every output of kind 110..=120 is also pushed there (replaces a
    /// previous tap). Back-pressure covers it: input waits while the tap lacks room.
    pub fn add_tap(&mut self, tap: Producer) {
        if let Some(j) = self.journal.as_deref_mut() {
            j.batches.reserve(tap.capacity()); // the tap's staged outputs can queue batches too
        }
        self.tap = Some(tap);
    }

    /// Push `recs` (earlier RFQ-family outputs: a cluster leader's committed client answers) into
    /// the tap ring ahead of anything the core will tap, leaving at least half of the ring (and
    /// twice the most outputs of one record) free for the core: the gateway reading the tap
    /// learns them first (quote states, execution reports to send again). Only the newest that
    /// fit are pushed; returns how many. Before the core thread starts (the tap is then empty).
    /// Nothing is journaled: these are outputs.
    pub fn prefill_tap(&mut self, recs: &[Record]) -> usize {
        let keep = 2 * self.core.max_out_per_record();
        let Some(tap) = self.tap.as_mut() else { return 0 };
        let room = (tap.capacity() / 2).min(tap.capacity().saturating_sub(keep)).min(recs.len());
        tap.push_slice(&recs[recs.len() - room..])
    }
}
