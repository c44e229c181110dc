//! Python dicts → core configuration types (the one place types cross the boundary).
use crate::errors::config_err;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rfq_model::{CompositeSpec, Instrument, InstrumentKind, PricingParams, Side};

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
