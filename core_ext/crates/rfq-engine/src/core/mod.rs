//! The deterministic core: one market, one desk and the hedging of a configuration, and the
//! dispatcher that hands every input record to them.
//!
//! The three domains never see each other. The dispatcher (`dispatch.rs`) owns the order in
//! which they act on a record and carries what one produces for another as plain values: a
//! client fill to hedging, hedge fills and repricing mids to the desk, a CONTROL's outcome to
//! the desk's acknowledgement. Calls that need to read another domain get a read-only view
//! built over it for that call (`views.rs`).
//!
//! ## Layout
//! `mod.rs` the core and its configuration; `dispatch.rs` one input record through the
//! domains; `views.rs` the views passed down; `api.rs` the query and steering API;
//! `persist.rs` the whole state's one encoding.

use rfq_desk::Desk;
use rfq_hedge::{CompositeInfo, Hedging, MemberInfo, MAX_HEDGE_OUT};
use rfq_kernel::codec::Persist;
use rfq_kernel::hash::Fnv;
use rfq_market::Market;
use rfq_model::{CompositeSpec, Instrument, ModelError, RfqConfig};

pub use rfq_kernel::Sink;
pub use rfq_market::Stats;

mod api;
mod dispatch;
mod persist;
mod views;

#[cfg(test)]
mod market_cache_tests;

/// Static configuration of a core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Instruments; ids must be unique and non-zero.
    pub instruments: Vec<Instrument>,
    /// Composites; members must name configured instruments.
    pub composites: Vec<CompositeSpec>,
    /// Levels per book side (fixed; the update path never allocates).
    pub book_capacity: usize,
    /// The RFQ workflow: tiers, clients, risk limits, pricing v2, desk settings
    /// (docs/rfq-protocol.md). `RfqConfig::default()` = no clients: every RFQ is refused.
    pub rfq: RfqConfig,
}

/// The core's whole trading state. Single writer: only the thread that owns it mutates it.
pub struct Core {
    /// Core time: the largest `ts_recv` of any accepted record (`i64::MIN` before the first).
    pub(crate) now: i64,
    /// Venue books, composites, quote ladders.
    pub(crate) market: Market,
    /// RFQs, quotes, risk, positions, operator commands.
    pub(crate) desk: Desk,
    /// Hedging policy, router, internal crossing book, hedge OMS.
    pub(crate) hedging: Hedging,
    /// Most outputs one input record can cause.
    pub(crate) max_out: usize,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("instruments", &self.market.instruments().len())
            .field("composites", &self.market.composite_count())
            .field("now", &self.now)
            .field("records", &self.market.stats().records)
            .field("out_seq", &self.market.out_seq())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Build a core; every inconsistency in the configuration is an error naming it.
    pub fn new(cfg: CoreConfig) -> Result<Core, ModelError> {
        let specs = cfg.composites.clone();
        let market = Market::new(cfg.instruments, cfg.composites, cfg.book_capacity)?;
        let hedge_specs = cfg.rfq.hedging.clone();
        let desk = Desk::new(cfg.rfq, &specs)?;
        let layout: Vec<CompositeInfo<'_>> = (0..market.composite_count())
            .map(|ci| CompositeInfo {
                id: market.composite_id(ci),
                members: market.members(ci).map(|(inst, spec, conv)| MemberInfo { inst, spec, conv }).collect(),
            })
            .collect();
        let hedging = Hedging::new(&layout, &hedge_specs)?;
        let mut core = Core { now: i64::MIN, market, desk, hedging, max_out: 0 };
        core.sync_domains();
        Ok(core)
    }

    /// What one domain keeps about another's configuration, refreshed after construction, a
    /// restore and every operator command: whether RFQs price from each composite (the
    /// market then keeps its cache), and the output bound.
    pub(crate) fn sync_domains(&mut self) {
        for ci in 0..self.market.composite_count() {
            self.market.set_rfq_priced(ci, self.desk.prices(ci));
        }
        self.desk.set_now(self.now);
        self.recompute_max_out();
    }

    /// The output bound: the time-driven work of one record (`HOUSEKEEPING_PER_RECORD`; none
    /// without clients, as there can then be no quote and no pending approval) plus the most
    /// the record itself can cause — a venue message or heartbeat (status + repricing of every
    /// ladder), an accept (EXEC, EXEC_FEES, QUOTE_END, 2 RISK_EVENT) or an approval
    /// (2 RFQ_QUOTE + CONTROL_ACK) — plus what hedging can add (a record may route every
    /// hedged composite: a venue shared by all, or due retries).
    pub(crate) fn recompute_max_out(&mut self) {
        let housekeeping = if self.desk.has_clients() { rfq_desk::HOUSEKEEPING_PER_RECORD } else { 0 };
        self.max_out = housekeeping + self.market.max_out().max(rfq_desk::MAX_RFQ_OUT) + self.hedging.len() * MAX_HEDGE_OUT;
    }

    /// Most output records one input record can cause (the runner keeps this much room).
    pub fn max_out_per_record(&self) -> usize {
        self.max_out
    }

    /// Core time: the largest `ts_recv` of any accepted record (`i64::MIN` before the first).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Move the clock (never back).
    #[inline]
    pub(crate) fn advance(&mut self, ts: i64) {
        if ts > self.now {
            self.now = ts;
            self.desk.set_now(ts);
        }
    }

    /// A hash of the whole trading state: FNV-1a of what a snapshot saves (the one encoding
    /// of every state type, `rfq_kernel::codec`) less counters and caches. Equal inputs give
    /// equal hashes, on any run and any machine.
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv::new();
        self.save(&mut h);
        h.finish()
    }

    /// Touch every page of the RFQ tables (the duplicate-id set, reserved for
    /// [`crate::DEDUP_RESERVE`] blocks of 64 ids, and the deadline heaps) once, so the first
    /// RFQs do not pay page faults (~1-2 µs each) on the hot path. Changes no state; takes
    /// tens of ms. [`crate::Runner::spawn`] calls it on the core thread before the first
    /// record; inline users may call it themselves. Nothing to do without clients.
    pub fn prefault(&mut self) {
        self.desk.prefault();
    }
}
