//! The desk on the core thread (docs/rfq-protocol.md): clients and tiers, RFQs and the firm
//! quotes made for them, accepts and fills, the risk limits and kill switches every request
//! and hit is checked against, approvals waiting for an operator, the desk's and clients'
//! positions, operator commands, and the query views.
//!
//! Owned by `rfq-engine`'s core, which hands each RFQ-family record to it. The desk never
//! reads the market or hedging directly: calls that price or check hedging get a
//! [`rfq_kernel::views::DeskInputs`] view from the engine. What the desk's fills mean for
//! hedging leaves as a plain [`ClientFill`] the engine hands on; hedge fills and repricing
//! mids come back as plain values ([`Desk::apply_hedge_fill`], [`Desk::on_mid`]).
//!
//! ## Layout
//! `state.rs` the state types (clients, per-composite settings, the quote table, pending
//! approvals); `persist.rs` their one encoding; `view_types.rs` and `views.rs` the query API;
//! `risk.rs` throttles, deadline heaps and execution windows; `dedup.rs` the duplicate-id set;
//! `limits.rs` the risk predicates; `request.rs` an RFQ's request checks; `evaluate.rs`
//! pricing and the risk checks of a request; `quote.rs` a quote put in the table;
//! `approval.rs` RFQs waiting for an operator; `accept.rs` and `fill.rs` a client's hit and its
//! execution; `cancel.rs` cancels; `expiry.rs` time-driven work; `control.rs` and
//! `settings.rs` operator commands.
#![deny(missing_docs, unsafe_code)]

mod accept;
mod approval;
mod cancel;
mod control;
mod dedup;
mod evaluate;
mod expiry;
mod fill;
mod limits;
mod persist;
mod quote;
mod request;
mod risk;
mod settings;
mod state;
mod view_types;
mod views;

pub use crate::dedup::DEDUP_RESERVE;
pub use crate::control::control_well_formed;
pub use crate::fill::ClientFill;
pub use crate::risk::MAX_EXEC_COUNT;
pub use crate::state::{QuoteState, RfqStats, HOUSEKEEPING_PER_RECORD, KILL_SCAN_PER_RECORD};
pub use crate::view_types::{ClientView, InstrumentView, PendingView, PositionView, QuoteView};

use crate::state::RfqState;
use rfq_kernel::views::DeskMove;
use rfq_model::{CompositeSpec, ModelError, RfqConfig};

/// A validated RFQ (or a pending one being approved).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req {
    /// Client index.
    pub(crate) k: usize,
    /// Composite index.
    pub(crate) ci: usize,
    pub(crate) side: u8,
    /// Base qty, or a quote-currency amount (`in_quote`).
    pub(crate) amount: i64,
    pub(crate) in_quote: bool,
    pub(crate) limit: i64,
    pub(crate) ttl: i64,
    pub(crate) rfq_id: u64,
}

/// Signed change of the desk position when client side `side` trades `q`.
#[inline]
pub(crate) fn desk_delta(side: u8, q: i64) -> i64 {
    if side == 0 {
        -q
    } else {
        q
    }
}

/// Risk-reducing: the absolute desk position goes down.
#[inline]
pub(crate) fn reduces(pos: i64, dq: i64) -> bool {
    (i128::from(pos) + i128::from(dq)).abs() < i128::from(pos).abs()
}

/// Most records one RFQ-family input can cause besides the time-driven work: an accept's
/// EXEC, EXEC_FEES, QUOTE_END and two RISK_EVENTs.
pub const MAX_RFQ_OUT: usize = 5;

impl RfqState {
    /// Count a published reject reason.
    #[inline]
    pub(crate) fn count_reject(&mut self, reason: i64) {
        self.stats.rejects[(reason as usize).min(63)] += 1;
    }
}

/// The desk's whole state. Single writer: only the core thread mutates it, through the
/// engine.
pub struct Desk {
    pub(crate) rfq: RfqState,
    /// Composite index → id (the engine's configuration order; fixed).
    pub(crate) ids: Vec<u16>,
    /// Core time, as the engine's clock last moved ([`Desk::set_now`] before each call); the
    /// engine saves the clock, the desk does not.
    pub(crate) now: i64,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").field("clients", &self.rfq.clients.len()).field("composites", &self.ids.len()).finish_non_exhaustive()
    }
}

impl Desk {
    /// The desk of an RFQ configuration over `composites` (in the engine's order); every
    /// inconsistency is an error naming it.
    pub fn new(cfg: RfqConfig, composites: &[CompositeSpec]) -> Result<Desk, ModelError> {
        Ok(Desk { rfq: RfqState::new(cfg, composites)?, ids: composites.iter().map(|c| c.id).collect(), now: i64::MIN })
    }

    /// Core time moved to `now`.
    #[inline]
    pub fn set_now(&mut self, now: i64) {
        self.now = now;
    }

    /// The desk has clients (without, every RFQ is refused and nothing is time-driven).
    #[inline]
    pub fn has_clients(&self) -> bool {
        !self.rfq.clients.is_empty()
    }

    /// RFQs can be priced from composite `ci`: the desk has clients and a risk entry for it.
    pub fn prices(&self, ci: usize) -> bool {
        self.has_clients() && self.rfq.inst[ci].risk.is_some()
    }

    /// Index of composite `id`.
    #[inline]
    pub(crate) fn composite_index(&self, id: u16) -> Option<usize> {
        self.ids.iter().position(|&c| c == id)
    }

    /// A repricing of composite `ci` saw `mid`: the volatility estimate moves.
    #[inline]
    pub fn on_mid(&mut self, ci: usize, mid: i64) {
        self.rfq.on_mid(ci, mid);
    }

    /// A hedge fill moved the desk position (what hedging reports, applied by the engine).
    #[inline]
    pub fn apply_hedge_fill(&mut self, m: &DeskMove) {
        let desk = &mut self.rfq.inst[m.ci].desk;
        desk.apply(m.qty, m.price);
        desk.fees += m.fee;
    }

    /// The desk's limits on one hedge order of composite `ci`.
    #[inline]
    pub fn hedge_limits(&self, ci: usize) -> rfq_kernel::views::HedgeLimits {
        let inst = &self.rfq.inst[ci];
        rfq_kernel::views::HedgeLimits {
            max_notional: inst.risk.as_ref().map(|x| i128::from(x.max_notional) * inst.cent),
            collar_cbps: inst.risk.as_ref().map(|x| x.collar_cbps),
        }
    }

    /// Touch every page of the RFQ tables (the duplicate-id set, reserved for
    /// [`DEDUP_RESERVE`] blocks of 64 ids, and the deadline heaps) once, so the first RFQs do
    /// not pay page faults (~1-2 µs each) on the hot path. Changes no state; takes tens of
    /// ms. Nothing to do without clients.
    pub fn prefault(&mut self) {
        if !self.rfq.clients.is_empty() {
            self.rfq.prefault();
        }
    }
}

