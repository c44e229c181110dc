//! The core's query and steering API (what the binding, the runner and the tools call),
//! answered by the domain that owns each piece of state.

use super::{Core, Stats};
use rfq_desk::{ClientView, InstrumentView, PendingView, PositionView, QuoteView, RfqStats};
use rfq_hedge::{HedgeOrderView, HedgeView};
use rfq_market::{InstrumentState, QuoteLevel};
use rfq_model::{DeskSpec, ModelError, PricingParams, Side, TierSpec};

impl Core {
    /// Counters of the market (records, messages, book updates, quotes, rejects).
    pub fn stats(&self) -> &Stats {
        self.market.stats()
    }

    /// Instrument state by registry id.
    pub fn instrument(&self, id: u16) -> Option<&InstrumentState> {
        self.market.instrument(id)
    }

    /// All instrument states.
    pub fn instruments(&self) -> &[InstrumentState] {
        self.market.instruments()
    }

    /// Composite sweep notional for `qty` on `side` over the currently usable members.
    pub fn composite_sweep(&self, composite: u16, side: Side, qty: i64) -> Option<i128> {
        self.market.composite_sweep(composite, side, qty, self.now)
    }

    /// Sweeps by depth search (the default) or, off, by walking every merged level — a
    /// verification and benchmark switch: results are identical, only the cost differs.
    pub fn set_depth_search(&mut self, on: bool) {
        self.market.set_depth_search(on);
    }

    /// Whether sweeps of `composite` over its usable members search depth (see
    /// [`Core::set_depth_search`]); `None` for an unknown composite.
    pub fn depth_searchable(&self, composite: u16) -> Option<bool> {
        self.market.depth_searchable(composite, self.now)
    }

    /// Composite mid `(best bid + best ask) / 2` (floor) over the usable, basis-adjusted member
    /// books; `None` without a two-sided usable market or when crossed beyond tolerance.
    pub fn composite_mid(&self, composite: u16) -> Option<i64> {
        self.market.composite_mid(composite, self.now)
    }

    /// Last published quote ladder of a composite.
    pub fn quotes(&self, composite: u16) -> Option<&[QuoteLevel]> {
        self.market.quotes(composite)
    }

    /// The live pricing v1 parameters of a composite (ladder sizes, spreads): the configured
    /// ones until `set_pricing` or a CONTROL record changes them.
    pub fn pricing(&self, composite: u16) -> Option<&PricingParams> {
        self.market.pricing(composite)
    }

    /// Replace a composite's pricing parameters (takes effect at its next repricing).
    pub fn set_pricing(&mut self, composite: u16, params: PricingParams) -> Result<(), ModelError> {
        self.market.set_pricing(composite, params)?;
        self.recompute_max_out();
        Ok(())
    }

    /// Include or exclude a member venue book from a composite.
    pub fn set_member(&mut self, composite: u16, instrument: u16, included: bool) -> Result<(), ModelError> {
        self.market.set_member(composite, instrument, included)
    }

    /// Current basis offsets `(instrument id, offset in composite price units, known)`.
    pub fn basis(&self, composite: u16) -> Option<Vec<(u16, i64, bool)>> {
        self.market.basis(composite)
    }

    /// Published sequence number of the last QUOTE or BOOK_STATUS record.
    pub fn out_seq(&self) -> u64 {
        self.market.out_seq()
    }

    /// `book_status` code of an instrument (see docs/ring-layout.md).
    pub fn status_code(&self, id: u16) -> Option<i64> {
        self.market.status_code(id)
    }

    /// The desk's position in a composite, marked at the composite mid.
    pub fn position(&self, composite: u16) -> Option<PositionView> {
        self.desk.position(composite, self.composite_mid(composite))
    }

    /// A client's position in a composite, marked at the composite mid.
    pub fn client_position(&self, client: u16, composite: u16) -> Option<PositionView> {
        self.desk.client_position(client, composite, self.composite_mid(composite))
    }

    /// A client's settings, switches and credit use.
    pub fn client_view(&self, client: u16) -> Option<ClientView> {
        self.desk.client_view(client)
    }

    /// A composite's risk limits, switches and pricing knobs.
    pub fn instrument_view(&self, composite: u16) -> Option<InstrumentView> {
        let p = self.market.pricing(composite)?;
        self.desk.instrument_view(composite, (p.base_cbps, p.size_cbps_per_unit))
    }

    /// The desk-wide kill switch is on.
    pub fn desk_killed(&self) -> bool {
        self.desk.desk_killed()
    }

    /// A client tier's settings now; `None` for an unknown tier id.
    pub fn tier_view(&self, tier: u8) -> Option<&TierSpec> {
        self.desk.tier_view(tier)
    }

    /// The desk-wide settings now (the repeated-execution throttle, the table sizes).
    pub fn desk_settings(&self) -> &DeskSpec {
        self.desk.desk_settings()
    }

    /// A quote still in the quote table (the last `DeskSpec::quote_table` ids).
    pub fn quote_view(&self, quote_id: u64) -> Option<QuoteView> {
        self.desk.quote_view(quote_id)
    }

    /// RFQs waiting for an operator, by request id.
    pub fn pending(&self) -> Vec<PendingView> {
        self.desk.pending()
    }

    /// RFQ workflow counters.
    pub fn rfq_stats(&self) -> &RfqStats {
        self.desk.rfq_stats()
    }

    /// Hedging views of every composite with a policy.
    pub fn hedge_views(&self) -> Vec<HedgeView> {
        self.hedging.hedge_views()
    }

    /// Every hedge order the OMS holds, by client order id.
    pub fn hedge_orders(&self) -> Vec<HedgeOrderView> {
        self.hedging.hedge_orders()
    }
}
