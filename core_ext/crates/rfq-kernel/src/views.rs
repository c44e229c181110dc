//! The read-only views one domain is given of the others.
//!
//! A domain crate never depends on a sibling. When the desk prices a request it needs the
//! market; when hedging routes it needs the venue books and the desk's limits. `rfq-engine`
//! owns all three and passes each call a view built over the others (borrowed, read-only,
//! for that call): the dependency points down to this crate, and no domain calls back up into
//! the engine or across into a sibling. What a domain changes in another (a fill moving the
//! desk position, a repricing moving the volatility estimate) travels the other way, as
//! plain values the engine hands on.

use rfq_book::L2Book;
use rfq_model::PricingParams;

/// One composite's market as the desk prices a request from it (`rfq_market::Depth`).
pub trait CompositeDepth {
    /// Loads the market for the `active` client sides (`in_quote`: the amount is in quote
    /// currency): `Err(reject reason)` without a usable, uncrossed two-sided market.
    fn open(&mut self, in_quote: bool, active: &[bool; 2]) -> Result<(), i64>;
    /// The composite mid (valid after `open`).
    fn mid(&self) -> i64;
    /// The composite's live pricing v1 parameters and quantity decimals.
    fn pricing(&self) -> (&PricingParams, u32);
    /// The sweep notional of `q` for client side `s` (0 = the client buys); `None` when the
    /// market is too thin.
    fn notional(&self, s: usize, q: i64) -> Option<i128>;
}

/// What the desk reads of the rest of the core: a composite's market and whether it can be
/// hedged (composites by index, as the engine's configuration orders them).
pub trait DeskInputs {
    /// The market a request is priced from.
    type Depth<'a>: CompositeDepth
    where
        Self: 'a;
    /// The market of composite `ci` for a request of `amount`, still to be opened.
    fn depth(&self, ci: usize, amount: i64) -> Self::Depth<'_>;
    /// The composite mid, `None` without a two-sided, uncrossed usable market.
    fn mid(&self, ci: usize) -> Option<i64>;
    /// Hedging is possible for composite `ci`, or not needed.
    fn hedge_ok(&self, ci: usize) -> bool;
}

/// The desk's limits that bound one hedge order of a composite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HedgeLimits {
    /// The composite's max notional of one order, exact notional scale.
    pub max_notional: Option<i128>,
    /// The composite's price collar, cbps from the mid.
    pub collar_cbps: Option<i64>,
}

/// What hedging reads of the rest of the core: the market of its composites and venue
/// books, and the desk's limits.
pub trait HedgeInputs {
    /// Core time.
    fn now(&self) -> i64;
    /// The composite mid, `None` without a two-sided, uncrossed usable market.
    fn mid(&self, ci: usize) -> Option<i64>;
    /// Member `member` of composite `ci` is usable now (fresh, live, basis known).
    fn usable(&self, ci: usize, member: usize) -> bool;
    /// The book of instrument index `inst`.
    fn book(&self, inst: usize) -> &L2Book;
    /// The desk's limits for composite `ci`.
    fn limits(&self, ci: usize) -> HedgeLimits;
}

/// What a hedge fill did to the desk's position in a composite (the engine applies it to
/// the desk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskMove {
    /// Composite index.
    pub ci: usize,
    /// Signed quantity (composite units, + = the desk bought).
    pub qty: i64,
    /// Price (composite units).
    pub price: i64,
    /// Fee paid, exact notional scale.
    pub fee: i128,
}
