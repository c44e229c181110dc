//! Python dicts → core configuration types.
use crate::errors::config_err;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rfq_model::{
    ClientSpec, CompositeSpec, DeskSpec, HedgeMode, HedgeSpec, HedgeVenue, Instrument, InternalBookSpec, InstrumentKind, InstrumentRisk, PricingParams, PricingV2, RfqConfig, Side,
    Throttle, TierSpec,
};

fn field<'py, T>(d: &Bound<'py, PyDict>, what: &str, key: &str) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py>,
    for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
{
    let v = d.get_item(key)?.ok_or_else(|| config_err(format!("{what}: missing field {key:?}")))?;
    v.extract::<T>().map_err(|e| config_err(format!("{what}: field {key:?}: {}", Into::<PyErr>::into(e))))
}

pub fn to_side(v: u8) -> PyResult<Side> {
    Side::from_u8(v).ok_or_else(|| config_err(format!("side must be 0 (bid) or 1 (ask), got {v}")))
}

pub fn instrument(d: &Bound<'_, PyDict>) -> PyResult<Instrument> {
    let what = d.get_item("symbol").ok().flatten().map(|s| s.to_string()).unwrap_or_else(|| "instrument".into());
    let kind: String = field(d, &what, "kind")?;
    let inst = Instrument {
        id: field(d, &what, "id")?,
        symbol: field(d, &what, "symbol")?,
        venue: field(d, &what, "venue")?,
        kind: InstrumentKind::parse(&kind).ok_or_else(|| config_err(format!("{what}: unknown kind {kind:?}")))?,
        price_decimals: field(d, &what, "price_decimals")?,
        qty_decimals: field(d, &what, "qty_decimals")?,
        tick: field(d, &what, "tick")?,
        lot: field(d, &what, "lot")?,
        contract_size: field(d, &what, "contract_size")?,
        max_qty: field(d, &what, "max_qty")?,
        book_window: opt_field(d, &what, "book_window", rfq_model::DEFAULT_BOOK_WINDOW)?,
    };
    inst.validate().map_err(config_err)?;
    Ok(inst)
}

pub fn composite(d: &Bound<'_, PyDict>) -> PyResult<(CompositeSpec, Vec<u16>)> {
    let what = d.get_item("name").ok().flatten().map(|s| s.to_string()).unwrap_or_else(|| "composite".into());
    let members: Vec<u16> = field(d, &what, "members")?;
    let excluded: Vec<u16> = match d.get_item("excluded")? {
        Some(v) => v.extract().map_err(|e| config_err(format!("{what}: field \"excluded\": {e}")))?,
        None => Vec::new(),
    };
    let spec = CompositeSpec {
        id: field(d, &what, "id")?,
        name: field(d, &what, "name")?,
        price_decimals: field(d, &what, "price_decimals")?,
        qty_decimals: field(d, &what, "qty_decimals")?,
        members,
        stale_after_ns: field(d, &what, "stale_after_ns")?,
        cross_tolerance_cbps: match d.get_item("cross_tolerance_cbps")? {
            Some(v) => v.extract().map_err(|e| config_err(format!("{what}: field \"cross_tolerance_cbps\": {e}")))?,
            None => 0,
        },
        basis_ema_shift: match d.get_item("basis_ema_shift")? {
            Some(v) => v.extract().map_err(|e| config_err(format!("{what}: field \"basis_ema_shift\": {e}")))?,
            None => 0,
        },
        pricing: PricingParams {
            sizes: field(d, &what, "sizes")?,
            base_cbps: field(d, &what, "base_cbps")?,
            size_cbps_per_unit: field(d, &what, "size_cbps_per_unit")?,
        },
    };
    spec.validate().map_err(config_err)?;
    Ok((spec, excluded))
}

fn opt_field<'py, T>(d: &Bound<'py, PyDict>, what: &str, key: &str, default: T) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py>,
    for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
{
    match d.get_item(key)? {
        Some(_) => field(d, what, key),
        None => Ok(default),
    }
}

fn dicts<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let Some(v) = d.get_item(key)? else { return Ok(Vec::new()) };
    let list = v.cast::<PyList>().map_err(|_| config_err(format!("rfq: {key:?} must be a list of dicts")))?;
    list.iter()
        .map(|x| x.cast_into::<PyDict>().map_err(|_| config_err(format!("rfq: {key:?} must be a list of dicts"))))
        .collect()
}

/// The `rfq=` dict of `Engine` (see `rfqcore.rfqconfig.RfqSettings.core_spec`).
pub fn rfq_config(d: &Bound<'_, PyDict>) -> PyResult<RfqConfig> {
    // fields are read in this order, so the first bad section is the one reported
    let cfg = RfqConfig {
        tiers: dicts(d, "tiers")?.iter().map(tier).collect::<PyResult<_>>()?,
        clients: dicts(d, "clients")?.iter().map(client).collect::<PyResult<_>>()?,
        risk: dicts(d, "risk")?.iter().map(risk).collect::<PyResult<_>>()?,
        pricing: dicts(d, "pricing")?.iter().map(pricing).collect::<PyResult<_>>()?,
        desk: match d.get_item("desk")? {
            Some(v) => desk(v.cast::<PyDict>().map_err(|_| config_err("rfq: \"desk\" must be a dict"))?)?,
            None => DeskSpec::default(),
        },
        hedging: dicts(d, "hedging")?.iter().map(hedging).collect::<PyResult<_>>()?,
    };
    cfg.validate().map_err(config_err)?;
    Ok(cfg)
}

fn tier(t: &Bound<'_, PyDict>) -> PyResult<TierSpec> {
    let w = "rfq tier";
    Ok(TierSpec {
        id: field(t, w, "id")?,
        name: field(t, w, "name")?,
        markup_cbps: field(t, w, "markup_cbps")?,
        fee_cbps: field(t, w, "fee_cbps")?,
        ttl_ns: field(t, w, "ttl_ns")?,
        max_ttl_ns: field(t, w, "max_ttl_ns")?,
        allow_partial: opt_field(t, w, "allow_partial", false)?,
    })
}

fn client(c: &Bound<'_, PyDict>) -> PyResult<ClientSpec> {
    let w = "rfq client";
    Ok(ClientSpec {
        id: field(c, w, "id")?,
        name: field(c, w, "name")?,
        tier: field(c, w, "tier")?,
        enabled: opt_field(c, w, "enabled", true)?,
        credit_limit: field(c, w, "credit_limit")?,
        max_open_quotes: field(c, w, "max_open_quotes")?,
        rfq_rate: Throttle { per_sec: opt_field(c, w, "rfq_rate", 0)?, burst: opt_field(c, w, "rfq_burst", 0)? },
        accept_rate: Throttle { per_sec: opt_field(c, w, "accept_rate", 0)?, burst: opt_field(c, w, "accept_burst", 0)? },
    })
}

fn risk(r: &Bound<'_, PyDict>) -> PyResult<InstrumentRisk> {
    let w = "rfq risk";
    Ok(InstrumentRisk {
        composite: field(r, w, "composite")?,
        min_qty: field(r, w, "min_qty")?,
        max_qty: field(r, w, "max_qty")?,
        max_notional: field(r, w, "max_notional")?,
        long_limit: field(r, w, "long_limit")?,
        short_limit: field(r, w, "short_limit")?,
        collar_cbps: field(r, w, "collar_cbps")?,
        approval_qty: opt_field(r, w, "approval_qty", 0)?,
        approval_notional: opt_field(r, w, "approval_notional", 0)?,
        approval_timeout_ns: field(r, w, "approval_timeout_ns")?,
        restricted: opt_field(r, w, "restricted", false)?,
    })
}

fn pricing(p: &Bound<'_, PyDict>) -> PyResult<PricingV2> {
    let w = "rfq pricing";
    Ok(PricingV2 {
        composite: field(p, w, "composite")?,
        skew_cbps_per_unit: opt_field(p, w, "skew_cbps_per_unit", 0)?,
        max_skew_cbps: opt_field(p, w, "max_skew_cbps", 0)?,
        vol_mult_pct: opt_field(p, w, "vol_mult_pct", 0)?,
        vol_ema_shift: opt_field(p, w, "vol_ema_shift", 4)?,
        hedge_fee_cbps: opt_field(p, w, "hedge_fee_cbps", 0)?,
    })
}

fn desk(k: &Bound<'_, PyDict>) -> PyResult<DeskSpec> {
    let w = "rfq desk";
    let def = DeskSpec::default();
    Ok(DeskSpec {
        exec_count: opt_field(k, w, "exec_count", def.exec_count)?,
        exec_window_ns: opt_field(k, w, "exec_window_ns", def.exec_window_ns)?,
        quote_table: opt_field(k, w, "quote_table", def.quote_table)?,
        max_pending: opt_field(k, w, "max_pending", def.max_pending)?,
    })
}

fn hedging(h: &Bound<'_, PyDict>) -> PyResult<HedgeSpec> {
    let w = "rfq hedging";
    let mode: String = field(h, w, "mode")?;
    let mode = match mode.as_str() {
        "off" => HedgeMode::Off,
        "full" => HedgeMode::Full,
        "partial" => HedgeMode::Partial,
        "threshold" => HedgeMode::Threshold,
        other => return Err(config_err(format!("rfq hedging: mode {other:?}: expected off, full, partial or threshold"))),
    };
    let venues = dicts(h, "venues")?.iter().map(hedge_venue).collect::<PyResult<_>>()?;
    Ok(HedgeSpec {
        composite: field(h, w, "composite")?,
        mode,
        ratio_pct: opt_field(h, w, "ratio_pct", 0)?,
        threshold: opt_field(h, w, "threshold", 0)?,
        max_slippage_cbps: opt_field(h, w, "max_slippage_cbps", 0)?,
        retry_ns: opt_field(h, w, "retry_ns", 100_000_000)?,
        venues,
        internal: match h.get_item("internal")? {
            Some(v) if !v.is_none() => {
                let b = v.cast::<PyDict>().map_err(|_| config_err("rfq hedging: \"internal\" must be a dict"))?;
                Some(internal_book(b)?)
            }
            _ => None,
        },
    })
}

fn hedge_venue(v: &Bound<'_, PyDict>) -> PyResult<HedgeVenue> {
    let w = "rfq hedging venue";
    Ok(HedgeVenue {
        venue: field(v, w, "venue")?,
        name: field(v, w, "name")?,
        instrument: field(v, w, "instrument")?,
        taker_cbps: opt_field(v, w, "taker_cbps", 0)?,
        max_order_qty: opt_field(v, w, "max_order_qty", 0)?,
        max_position: opt_field(v, w, "max_position", 0)?,
    })
}

fn internal_book(b: &Bound<'_, PyDict>) -> PyResult<InternalBookSpec> {
    let w = "rfq hedging internal book";
    Ok(InternalBookSpec {
        tick: field(b, w, "tick")?,
        min_price: field(b, w, "min_price")?,
        max_price: field(b, w, "max_price")?,
        max_orders: opt_field(b, w, "max_orders", 4096)?,
    })
}
