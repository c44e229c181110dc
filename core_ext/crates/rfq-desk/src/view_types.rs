//! What the query API returns about the RFQ workflow: positions, clients, per-composite
//! settings, quotes, pending approvals.

use crate::state::QuoteState;
use rfq_model::{InstrumentRisk, PricingV2, Throttle};

/// A position as the query API reports it. Amounts are exact, in the composite's notional
/// scale (price decimals + quantity decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionView {
    /// Composite id.
    pub composite: u16,
    /// Signed quantity (composite qty units; positive = long).
    pub qty: i64,
    /// Cost of the open quantity at average price.
    pub cost: i128,
    /// Realised P&L.
    pub realised: i128,
    /// `qty × mid − cost` at the current composite mid; `None` without a mid.
    pub unrealised: Option<i128>,
    /// Fees received (desk) or paid (client).
    pub fees: i128,
    /// Fills.
    pub trades: u64,
}

/// A client as the query API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// Client id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Tier id.
    pub tier: u8,
    /// Enabled (a disabled client is refused `NOT_AUTHORISED`).
    pub enabled: bool,
    /// A client-scope kill switch is on.
    pub killed: bool,
    /// Halted by the repeated-execution throttle.
    pub halted: bool,
    /// Credit limit, cents.
    pub credit_limit: i64,
    /// Credit used, cents: `⌈Σ over composites |client cost at average price|⌉` (the exact
    /// figure rounded up to the cent, so `utilised ≤ credit_limit` ⇔ the exact check passes).
    pub utilised: i128,
    /// Live quotes.
    pub open_quotes: u32,
    /// Live quotes at most.
    pub max_open_quotes: u32,
    /// RFQ throttle.
    pub rfq_rate: Throttle,
    /// Accept throttle.
    pub accept_rate: Throttle,
}

/// A composite's RFQ settings and switches as the query API reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentView {
    /// Composite id.
    pub composite: u16,
    /// Current risk limits (`None`: no risk entry, the composite is never quoted).
    pub risk: Option<InstrumentRisk>,
    /// An instrument-scope kill switch is on (the desk-wide one: [`crate::Core::desk_killed`]).
    pub killed: bool,
    /// Halted by the repeated-execution throttle.
    pub halted: bool,
    /// On the restricted list (or without a risk entry).
    pub restricted: bool,
    /// Current pricing v2 knobs.
    pub pricing: PricingV2,
    /// Ladder base half-spread (pricing v1, `SET_PRICING` field 6), cbps.
    pub base_cbps: i64,
    /// Ladder size spread (pricing v1, `SET_PRICING` field 7), cbps per whole unit.
    pub size_cbps_per_unit: i64,
    /// Current volatility estimate: EMA of absolute composite mid moves, cbps (rounded down).
    pub vol_cbps: i64,
}

/// A quote as the query API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteView {
    /// Quote id.
    pub quote_id: u64,
    /// Client id.
    pub client: u16,
    /// Composite id.
    pub composite: u16,
    /// The client's RFQ id.
    pub client_rfq_id: u64,
    /// Side 0 (client buys at the desk's ask): `(price, qty)`.
    pub ask: Option<(i64, i64)>,
    /// Side 1 (client sells at the desk's bid): `(price, qty)`.
    pub bid: Option<(i64, i64)>,
    /// Core time the quote was made.
    pub created: i64,
    /// Good while `ts_recv < valid_until`.
    pub valid_until: i64,
    /// Partial fills allowed.
    pub partial_ok: bool,
    /// State.
    pub state: QuoteState,
}

/// An RFQ waiting for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingView {
    /// Approval request id (`APPROVE`/`DECLINE` `price`).
    pub request_id: u64,
    /// Client id.
    pub client: u16,
    /// Composite id.
    pub composite: u16,
    /// Client side (0, 1, 255).
    pub side: u8,
    /// Requested size (base qty, or quote amount if `qty_in_quote`).
    pub qty: i64,
    /// `qty` is an amount of quote currency.
    pub qty_in_quote: bool,
    /// Limit price (0 = none).
    pub limit: i64,
    /// Indicative price published with `APPROVAL_PENDING`.
    pub indicative: i64,
    /// Timed out at this core time.
    pub deadline: i64,
    /// The client's RFQ id.
    pub client_rfq_id: u64,
}
