//! The query API of the RFQ workflow: positions, clients, instruments, quotes, pending
//! approvals, counters.

use crate::Desk;
use crate::state::RfqStats;
use crate::view_types::{ClientView, InstrumentView, PendingView, PositionView, QuoteView};
use rfq_model::{DeskSpec, TierSpec};

impl Desk {
    fn position_view(&self, ci: usize, p: &rfq_kernel::positions::Position, mid: Option<i64>) -> PositionView {
        PositionView {
            composite: self.ids[ci],
            qty: p.qty,
            cost: p.cost,
            realised: p.realised,
            unrealised: mid.map(|m| i128::from(p.qty) * i128::from(m) - p.cost),
            fees: p.fees,
            trades: p.trades,
        }
    }

    /// The desk's position in a composite, marked at `mid` (the composite's mid now).
    pub fn position(&self, composite: u16, mid: Option<i64>) -> Option<PositionView> {
        let ci = self.composite_index(composite)?;
        Some(self.position_view(ci, &self.rfq.inst[ci].desk, mid))
    }

    /// A client's position in a composite, marked at `mid` (the composite's mid now).
    pub fn client_position(&self, client: u16, composite: u16, mid: Option<i64>) -> Option<PositionView> {
        let ci = self.composite_index(composite)?;
        let k = self.rfq.client_index(client)?;
        Some(self.position_view(ci, &self.rfq.clients[k].positions[ci], mid))
    }

    /// A client's settings, switches and credit use.
    pub fn client_view(&self, client: u16) -> Option<ClientView> {
        let k = self.rfq.client_index(client)?;
        let c = &self.rfq.clients[k];
        Some(ClientView {
            id: c.spec.id,
            name: c.spec.name.clone(),
            tier: c.spec.tier,
            enabled: c.spec.enabled,
            killed: c.killed,
            halted: c.halted,
            credit_limit: c.spec.credit_limit,
            utilised: self.rfq.util_cents(k),
            open_quotes: c.open_quotes,
            max_open_quotes: c.spec.max_open_quotes,
            rfq_rate: c.spec.rfq_rate,
            accept_rate: c.spec.accept_rate,
        })
    }

    /// A composite's risk limits, switches and pricing knobs; the ladder's spreads
    /// (`base_cbps`, `size_cbps_per_unit`) are the market's, given as `spreads`.
    pub fn instrument_view(&self, composite: u16, spreads: (i64, i64)) -> Option<InstrumentView> {
        let ci = self.composite_index(composite)?;
        let st = &self.rfq.inst[ci];
        Some(InstrumentView {
            composite,
            risk: st.risk.clone(),
            killed: st.killed,
            halted: st.halted,
            restricted: st.restricted(),
            pricing: st.pricing.clone(),
            base_cbps: spreads.0,
            size_cbps_per_unit: spreads.1,
            vol_cbps: st.vol_m / 1000,
        })
    }

    /// The desk-wide kill switch is on.
    pub fn desk_killed(&self) -> bool {
        self.rfq.desk_killed
    }

    /// A tier's settings now (the configured ones until `SET_TIER` changes them); `None` for
    /// an unknown tier id.
    pub fn tier_view(&self, tier: u8) -> Option<&TierSpec> {
        self.rfq.tier_index(tier).map(|t| &self.rfq.tiers[t])
    }

    /// The desk-wide settings now (`SET_DESK` changes the repeated-execution throttle).
    pub fn desk_settings(&self) -> &DeskSpec {
        &self.rfq.desk
    }

    /// A quote still in the quote table (the last `DeskSpec::quote_table` ids).
    pub fn quote_view(&self, quote_id: u64) -> Option<QuoteView> {
        let s = self.rfq.quote_slot(quote_id)?;
        let q = &self.rfq.quotes[s];
        let side = |i: usize| (q.sides[i].1 > 0).then_some(q.sides[i]);
        Some(QuoteView {
            quote_id,
            client: self.rfq.clients[q.client as usize].spec.id,
            composite: self.ids[q.ci as usize],
            client_rfq_id: q.rfq_id,
            ask: side(0),
            bid: side(1),
            created: q.created,
            valid_until: q.valid_until,
            partial_ok: q.partial,
            state: q.state,
        })
    }

    /// RFQs waiting for an operator, by request id.
    pub fn pending(&self) -> Vec<PendingView> {
        let mut v: Vec<PendingView> = self
            .rfq
            .pending
            .iter()
            .filter(|p| p.id != 0)
            .map(|p| PendingView {
                request_id: p.id,
                client: self.rfq.clients[p.client as usize].spec.id,
                composite: self.ids[p.ci as usize],
                side: p.side,
                qty: p.qty,
                qty_in_quote: p.in_quote,
                limit: p.limit,
                indicative: p.indicative,
                deadline: p.deadline,
                client_rfq_id: p.rfq_id,
            })
            .collect();
        v.sort_by_key(|p| p.request_id);
        v
    }

    /// RFQ workflow counters.
    pub fn rfq_stats(&self) -> &RfqStats {
        &self.rfq.stats
    }
}
