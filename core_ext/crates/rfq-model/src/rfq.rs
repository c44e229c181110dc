//! Configuration of the RFQ workflow: client tiers, clients, per-instrument risk, pricing v2
//! and desk-wide limits (docs/rfq-protocol.md). All money is integer: notional limits in
//! cents of the quote currency ([`NOTIONAL_DECIMALS`]), spreads in cbps (1e-6), sizes in the
//! composite's quantity scale, times in ns.

use crate::error::ModelError;

/// Decimals of notional limits (credit, max notional, approval threshold): cents.
pub const NOTIONAL_DECIMALS: u32 = 2;

/// A client tier: markup, fees and quote lifetime shared by its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSpec {
    /// Tier id (1..=255).
    pub id: u8,
    /// Name, e.g. `gold`.
    pub name: String,
    /// Added to the half-spread of every quote, cbps.
    pub markup_cbps: i64,
    /// Fee charged on the notional of each fill, cbps (rounded up).
    pub fee_cbps: i64,
    /// Quote lifetime when the RFQ asks for none, ns.
    pub ttl_ns: i64,
    /// Longest lifetime a client may ask for, ns.
    pub max_ttl_ns: i64,
    /// Quotes of this tier may be partially filled.
    pub allow_partial: bool,
}

/// A token bucket: `per_sec` tokens per second of core time, at most `burst` saved up.
/// `per_sec = 0` disables the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// Sustained rate, events per second.
    pub per_sec: u32,
    /// Burst size, events.
    pub burst: u32,
}

/// A client allowed to request quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    /// Client id (1..=65535); the `source` of its records.
    pub id: u16,
    /// Name, e.g. `acme-capital`.
    pub name: String,
    /// Tier id.
    pub tier: u8,
    /// A disabled client's RFQs are rejected `NOT_AUTHORISED`.
    pub enabled: bool,
    /// Credit limit on open exposure at cost, cents of the quote currency.
    pub credit_limit: i64,
    /// Live quotes at most.
    pub max_open_quotes: u32,
    /// RFQ throttle.
    pub rfq_rate: Throttle,
    /// Accept throttle.
    pub accept_rate: Throttle,
}

/// Risk limits of one RFQ instrument (a composite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRisk {
    /// Composite id.
    pub composite: u16,
    /// Smallest RFQ size (composite qty units).
    pub min_qty: i64,
    /// Largest RFQ size (composite qty units).
    pub max_qty: i64,
    /// Largest notional of one RFQ, cents.
    pub max_notional: i64,
    /// Desk position may not go above this (qty units, ≥ 0).
    pub long_limit: i64,
    /// Desk position may not go below minus this (qty units, ≥ 0).
    pub short_limit: i64,
    /// Quoted prices must be within this of the composite mid, cbps.
    pub collar_cbps: i64,
    /// RFQs above this size go to manual approval (0 = never by size).
    pub approval_qty: i64,
    /// RFQs above this notional go to manual approval, cents (0 = never by notional).
    pub approval_notional: i64,
    /// A pending approval is rejected after this long, ns.
    pub approval_timeout_ns: i64,
    /// On the restricted list: every RFQ is rejected `RESTRICTED`.
    pub restricted: bool,
}

/// Pricing v2 knobs of one composite, on top of the pricing v1 ladder spread.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PricingV2 {
    /// Composite id.
    pub composite: u16,
    /// Inventory skew per whole base unit of desk position, cbps (a long desk lowers both
    /// prices, a short desk raises them).
    pub skew_cbps_per_unit: i64,
    /// Largest skew, cbps.
    pub max_skew_cbps: i64,
    /// Volatility component = EMA of absolute mid moves (cbps) × this / 100.
    pub vol_mult_pct: i64,
    /// EMA weight 2^-shift of the mid-move average.
    pub vol_ema_shift: u32,
    /// Expected hedging cost added to both sides, cbps.
    pub hedge_fee_cbps: i64,
}

/// Desk-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskSpec {
    /// Repeated-execution throttle: this many fills of one client (or one instrument) within
    /// `exec_window_ns` halt it until an operator re-enables it (0 disables, at most 64).
    pub exec_count: u32,
    /// Window of the repeated-execution throttle, ns.
    pub exec_window_ns: i64,
    /// Quote table size (live + recently ended quotes), a power of two.
    pub quote_table: usize,
    /// Pending manual approvals at most.
    pub max_pending: usize,
}

impl Default for DeskSpec {
    fn default() -> Self {
        DeskSpec { exec_count: 0, exec_window_ns: 1_000_000_000, quote_table: 1 << 16, max_pending: 1024 }
    }
}

/// The whole RFQ configuration of a core.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RfqConfig {
    /// Client tiers.
    pub tiers: Vec<TierSpec>,
    /// Clients.
    pub clients: Vec<ClientSpec>,
    /// Risk limits per RFQ instrument; a composite without an entry cannot be quoted
    /// (`RESTRICTED`).
    pub risk: Vec<InstrumentRisk>,
    /// Pricing v2 per composite (absent = all zero).
    pub pricing: Vec<PricingV2>,
    /// Desk settings.
    pub desk: DeskSpec,
    /// Hedging policy and venues per composite (docs/hedging.md); absent = no hedging.
    pub hedging: Vec<HedgeSpec>,
}

/// How a composite's client flow is hedged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HedgeMode {
    /// No hedging (the desk keeps the position).
    #[default]
    Off,
    /// Hedge every client fill in full: target hedge position = −(client flow).
    Full,
    /// Hedge `ratio_pct` percent of the client flow.
    Partial,
    /// Hedge the whole unhedged position once its size reaches `threshold`.
    Threshold,
}

/// One venue a composite hedges on: a member instrument of the composite traded there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgeVenue {
    /// Venue id (≥ 1) as the venue link reports it (`source` of `VENUE_*` records).
    pub venue: u16,
    /// Venue name (for reports).
    pub name: String,
    /// Instrument id of the member traded there (must be a linear/spot member of the composite).
    pub instrument: u16,
    /// Taker fee in cbps, counted in the router's effective price.
    pub taker_cbps: i64,
    /// Largest single hedge order, in the instrument's quantity units (0 = the instrument's max).
    pub max_order_qty: i64,
    /// Largest absolute hedge position at this venue, instrument quantity units (0 = none).
    pub max_position: i64,
}

/// Hedging policy of one composite.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HedgeSpec {
    /// Composite id.
    pub composite: u16,
    /// Policy.
    pub mode: HedgeMode,
    /// `Partial`: percent of the client flow hedged (1..=100).
    pub ratio_pct: i64,
    /// `Threshold`: unhedged size (composite quantity units) that triggers a hedge (> 0).
    pub threshold: i64,
    /// Limit-price tolerance beyond the router's marginal price, in cbps (0..1_000_000).
    pub max_slippage_cbps: i64,
    /// After a hedge order ends with quantity unfilled, wait this long (ns) before routing the
    /// rest again (0 = route again at once).
    pub retry_ns: i64,
    /// Venues, in the router's tie-break order.
    pub venues: Vec<HedgeVenue>,
    /// The internal crossing book (desk orders that client flow is matched against before it
    /// is routed to external venues); `None` = no internal crossing.
    pub internal: Option<InternalBookSpec>,
}

/// The internal crossing book of one composite, in the composite's price and quantity scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternalBookSpec {
    /// Price tick (composite price units, > 0).
    pub tick: i64,
    /// Lowest and highest accepted desk-order price (multiples of `tick`).
    pub min_price: i64,
    /// Highest accepted desk-order price.
    pub max_price: i64,
    /// Most desk orders resting at once.
    pub max_orders: usize,
}

fn bad(what: impl Into<String>, why: impl Into<String>) -> ModelError {
    ModelError::BadRfq { what: what.into(), why: why.into() }
}

impl RfqConfig {
    /// Check internal consistency (composite ids are checked against the engine's composites).
    pub fn validate(&self) -> Result<(), ModelError> {
        for (i, t) in self.tiers.iter().enumerate() {
            let w = format!("tier {}", t.name);
            if t.id == 0 || self.tiers[..i].iter().any(|o| o.id == t.id) {
                return Err(bad(w, format!("id {} is 0 or duplicate", t.id)));
            }
            if !(0..1_000_000).contains(&t.markup_cbps) || !(0..1_000_000).contains(&t.fee_cbps) {
                return Err(bad(w, "markup and fee must be in 0..1_000_000 cbps"));
            }
            if t.ttl_ns <= 0 || t.max_ttl_ns < t.ttl_ns {
                return Err(bad(w, "need 0 < ttl <= max_ttl"));
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            let w = format!("client {}", c.name);
            if c.id == 0 || self.clients[..i].iter().any(|o| o.id == c.id) {
                return Err(bad(w, format!("id {} is 0 or duplicate", c.id)));
            }
            if !self.tiers.iter().any(|t| t.id == c.tier) {
                return Err(bad(w, format!("unknown tier {}", c.tier)));
            }
            if c.credit_limit < 0 {
                return Err(bad(w, "negative credit limit"));
            }
            for th in [c.rfq_rate, c.accept_rate] {
                if th.per_sec > 0 && th.burst == 0 {
                    return Err(bad(w.clone(), "a throttle with a rate needs a burst >= 1"));
                }
            }
        }
        for (i, r) in self.risk.iter().enumerate() {
            let w = format!("risk of composite {}", r.composite);
            if self.risk[..i].iter().any(|o| o.composite == r.composite) {
                return Err(bad(w, "duplicate"));
            }
            if r.min_qty <= 0 || r.max_qty < r.min_qty {
                return Err(bad(w, "need 0 < min_qty <= max_qty"));
            }
            if r.max_notional <= 0 || r.long_limit < 0 || r.short_limit < 0 {
                return Err(bad(w, "max_notional must be positive, position limits not negative"));
            }
            if !(1..1_000_000).contains(&r.collar_cbps) {
                return Err(bad(w, "collar must be in 1..1_000_000 cbps"));
            }
            if r.approval_qty < 0 || r.approval_notional < 0 || r.approval_timeout_ns <= 0 {
                return Err(bad(w, "approval thresholds must not be negative, timeout positive"));
            }
        }
        for p in &self.pricing {
            let w = format!("pricing v2 of composite {}", p.composite);
            if p.max_skew_cbps < 0 || p.skew_cbps_per_unit < 0 || p.vol_mult_pct < 0 || p.hedge_fee_cbps < 0 {
                return Err(bad(w, "knobs must not be negative"));
            }
            if p.vol_ema_shift > 20 {
                return Err(bad(w, "vol_ema_shift above 20"));
            }
        }
        for (i, h) in self.hedging.iter().enumerate() {
            let w = format!("hedging of composite {}", h.composite);
            if self.hedging[..i].iter().any(|o| o.composite == h.composite) {
                return Err(bad(w, "duplicate composite"));
            }
            match h.mode {
                HedgeMode::Partial if !(1..=100).contains(&h.ratio_pct) => return Err(bad(w, "ratio_pct must be in 1..=100")),
                HedgeMode::Threshold if h.threshold <= 0 => return Err(bad(w, "threshold must be positive")),
                HedgeMode::Off => {}
                _ if h.venues.is_empty() => return Err(bad(w, "needs at least one venue")),
                _ => {}
            }
            if !(0..1_000_000).contains(&h.max_slippage_cbps) || h.retry_ns < 0 {
                return Err(bad(w, "max_slippage_cbps must be in 0..1_000_000, retry_ns not negative"));
            }
            if let Some(b) = &h.internal {
                if b.tick <= 0 || b.min_price <= 0 || b.max_price < b.min_price || b.min_price % b.tick != 0 || b.max_price % b.tick != 0 {
                    return Err(bad(w, "internal book: need tick > 0 and 0 < min_price <= max_price, multiples of tick"));
                }
                if (b.max_price - b.min_price) / b.tick >= 1 << 22 || !(1..=1 << 20).contains(&b.max_orders) {
                    return Err(bad(w, "internal book: at most 4 M ticks in the band, 1..=1 M orders"));
                }
            }
            if h.venues.len() > 8 {
                return Err(bad(w, "at most 8 venues"));
            }
            for (j, v) in h.venues.iter().enumerate() {
                if v.venue == 0 || h.venues[..j].iter().any(|o| o.venue == v.venue || o.instrument == v.instrument) {
                    return Err(bad(w.clone(), format!("venue {}: id 0, or duplicate venue or instrument", v.name)));
                }
                if !(0..1_000_000).contains(&v.taker_cbps) || v.max_order_qty < 0 || v.max_position < 0 {
                    return Err(bad(w.clone(), format!("venue {}: fee in 0..1_000_000 cbps, limits not negative", v.name)));
                }
            }
        }
        let d = &self.desk;
        if !d.quote_table.is_power_of_two() || d.quote_table < 16 {
            return Err(bad("desk", "quote_table must be a power of two >= 16"));
        }
        if d.exec_window_ns <= 0 || d.max_pending == 0 {
            return Err(bad("desk", "exec_window must be positive, max_pending >= 1"));
        }
        if d.exec_count > 64 {
            return Err(bad("desk", "exec_count above 64"));
        }
        Ok(())
    }
}
