//! The engine's query views → Python dicts (one `ToDict` impl per view type).
use super::{nonzero_counts, ToDict};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfq_model::{DeskSpec, TierSpec};
use rfq_engine::{ClientView, HedgeOrderView, HedgeView, InstrumentView, PendingView, PositionView, QuoteState, QuoteView, RfqStats};

/// Names of `HedgeView::mode` codes.
const HEDGE_MODES: [&str; 4] = ["off", "full", "partial", "threshold"];

impl ToDict for PositionView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "composite" => self.composite,
            "qty" => self.qty,
            "cost" => self.cost,
            "realised" => self.realised,
            "unrealised" => self.unrealised,
            "fees" => self.fees,
            "trades" => self.trades,
        ))
    }
}

impl ToDict for ClientView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "id" => self.id,
            "name" => &self.name,
            "tier" => self.tier,
            "enabled" => self.enabled,
            "killed" => self.killed,
            "halted" => self.halted,
            "credit_limit" => self.credit_limit,
            "utilised" => self.utilised,
            "open_quotes" => self.open_quotes,
            "max_open_quotes" => self.max_open_quotes,
            "rfq_rate" => (self.rfq_rate.per_sec, self.rfq_rate.burst),
            "accept_rate" => (self.accept_rate.per_sec, self.accept_rate.burst),
        ))
    }
}

impl ToDict for TierSpec {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "id" => self.id,
            "name" => &self.name,
            "markup_cbps" => self.markup_cbps,
            "fee_cbps" => self.fee_cbps,
            "ttl_ns" => self.ttl_ns,
            "max_ttl_ns" => self.max_ttl_ns,
            "allow_partial" => self.allow_partial,
        ))
    }
}

impl ToDict for DeskSpec {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "exec_count" => self.exec_count,
            "exec_window_ns" => self.exec_window_ns,
            "quote_table" => self.quote_table,
            "max_pending" => self.max_pending,
        ))
    }
}

impl ToDict for InstrumentView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = dict!(py;
            "composite" => self.composite,
            "killed" => self.killed,
            "halted" => self.halted,
            "restricted" => self.restricted,
        );
        if let Some(r) = &self.risk {
            d.update(dict!(py;
                "min_qty" => r.min_qty,
                "max_qty" => r.max_qty,
                "max_notional" => r.max_notional,
                "long_limit" => r.long_limit,
                "short_limit" => r.short_limit,
                "collar_cbps" => r.collar_cbps,
                "approval_qty" => r.approval_qty,
                "approval_notional" => r.approval_notional,
                "approval_timeout_ns" => r.approval_timeout_ns,
            ).as_mapping())?;
        }
        let p = &self.pricing;
        d.update(dict!(py;
            "skew_cbps_per_unit" => p.skew_cbps_per_unit,
            "max_skew_cbps" => p.max_skew_cbps,
            "vol_mult_pct" => p.vol_mult_pct,
            "vol_ema_shift" => p.vol_ema_shift,
            "hedge_fee_cbps" => p.hedge_fee_cbps,
            "base_cbps" => self.base_cbps,
            "size_cbps_per_unit" => self.size_cbps_per_unit,
            "vol_cbps" => self.vol_cbps,
        ).as_mapping())?;
        Ok(d)
    }
}

fn quote_state_name(s: QuoteState) -> &'static str {
    match s {
        QuoteState::Live => "live",
        QuoteState::Filled => "filled",
        QuoteState::Rejected => "rejected",
        QuoteState::Expired => "expired",
        QuoteState::Cancelled => "cancelled",
    }
}

impl ToDict for QuoteView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "quote_id" => self.quote_id,
            "client" => self.client,
            "composite" => self.composite,
            "rfq_id" => self.client_rfq_id,
            "ask" => self.ask,
            "bid" => self.bid,
            "created" => self.created,
            "valid_until" => self.valid_until,
            "partial_ok" => self.partial_ok,
            "state" => quote_state_name(self.state),
        ))
    }
}

impl ToDict for PendingView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "request_id" => self.request_id,
            "client" => self.client,
            "composite" => self.composite,
            "side" => self.side,
            "qty" => self.qty,
            "qty_in_quote" => self.qty_in_quote,
            "limit" => self.limit,
            "indicative" => self.indicative,
            "deadline" => self.deadline,
            "rfq_id" => self.client_rfq_id,
        ))
    }
}

impl ToDict for RfqStats {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "rfqs" => self.rfqs,
            "quotes" => self.quotes,
            "fills" => self.fills,
            "expiries" => self.expiries,
            "cancels" => self.cancels,
            "hit_rejects" => self.hit_rejects,
            "approvals" => self.approvals,
            "approved" => self.approved,
            "declined" => self.declined,
            "timeouts" => self.timeouts,
            "controls" => self.controls,
            "risk_events" => self.risk_events,
            "rejects" => nonzero_counts(py, &self.rejects)?,
        ))
    }
}

/// One venue of a `HedgeView`: (venue id, up, position, working).
fn hedge_venue<'py>(py: Python<'py>, &(venue, up, position, working): &(u16, bool, i64, i64)) -> PyResult<Bound<'py, PyDict>> {
    Ok(dict!(py; "venue" => venue, "up" => up, "position" => position, "working" => working))
}

/// The internal crossing book of a `HedgeView`: (position, cost, realised, fills, resting orders).
fn internal_book<'py>(py: Python<'py>, &(qty, cost, realised, fills, resting): &(i64, i128, i128, u64, usize)) -> PyResult<Bound<'py, PyDict>> {
    Ok(dict!(py;
        "position" => qty,
        "cost" => cost,
        "realised" => realised,
        "fills" => fills,
        "resting_orders" => resting,
    ))
}

impl ToDict for HedgeView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let venues = self.venues.iter().map(|v| hedge_venue(py, v)).collect::<PyResult<Vec<_>>>()?;
        let internal = self.internal.as_ref().map(|b| internal_book(py, b)).transpose()?;
        Ok(dict!(py;
            "composite" => self.composite,
            "mode" => HEDGE_MODES[usize::from(self.mode)],
            "ratio_pct" => self.ratio_pct,
            "threshold" => self.threshold,
            "max_slippage_cbps" => self.max_slippage_cbps,
            "retry_ns" => self.retry_ns,
            "available" => self.available,
            "client_flow" => self.client_flow,
            "hedged" => self.hedged,
            "pending" => self.pending,
            "slippage" => self.slippage,
            "matched_notional" => self.matched_notional,
            "fees" => self.fees,
            "orders" => self.orders,
            "fills" => self.fills,
            "refused" => self.refused,
            "venues" => venues,
            "internal" => internal,
        ))
    }
}

impl ToDict for HedgeOrderView {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        Ok(dict!(py;
            "cl_ord_id" => self.cl_ord_id,
            "venue" => self.venue,
            "instrument" => self.instrument,
            "side" => self.side,
            "price" => self.price,
            "qty" => self.qty,
            "filled" => self.filled,
            "notional" => self.notional,
            "state" => self.state,
        ))
    }
}
