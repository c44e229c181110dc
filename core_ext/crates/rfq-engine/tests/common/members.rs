//! The one-composite core of the member property tests: `tests/composite_members.rs` (through
//! `common`) and the crate's unit tests `src/core/market_cache_tests.rs` (which include this file
//! by `#[path]`, so it names `CoreConfig` through the module that includes it).

use super::CoreConfig;
use rfq_model::{
    ClientSpec, CompositeSpec, DeskSpec, Instrument, InstrumentKind, InstrumentRisk, PricingParams, PricingV2, RfqConfig, Throttle, TierSpec,
};

const BTC: i64 = 100_000_000;
const SEC: i64 = 1_000_000_000;

/// A member's scales: (kind, price decimals, qty decimals, tick, contract size).
pub type Scale = (InstrumentKind, u32, u32, i64, i64);

/// Member `id` at `scale`: venue `v{id}`, lot 1, max qty 2^50.
pub fn member(id: u16, symbol: &str, (kind, pd, qd, tick, cs): Scale) -> Instrument {
    Instrument { id, symbol: symbol.into(), venue: format!("v{id}"), kind, price_decimals: pd, qty_decimals: qd, tick, lot: 1, contract_size: cs, max_qty: 1 << 50, book_window: rfq_model::DEFAULT_BOOK_WINDOW }
}

/// A core of one composite (id 1, `name`, `price_decimals`, 8 qty decimals, the ladder `sizes`)
/// over every instrument of `instruments` in order, with basis EMA shift `basis`, books of 4,096
/// levels, and an RFQ desk (one tier, one client, risk limits and pricing v2 for the composite).
pub fn config(instruments: Vec<Instrument>, name: &str, price_decimals: u32, sizes: Vec<i64>, basis: u32) -> CoreConfig {
    let members = instruments.iter().map(|i| i.id).collect();
    CoreConfig {
        instruments,
        composites: vec![CompositeSpec {
            id: 1,
            name: name.into(),
            price_decimals,
            qty_decimals: 8,
            members,
            stale_after_ns: SEC,
            basis_ema_shift: basis,
            cross_tolerance_cbps: 200,
            pricing: PricingParams { sizes, base_cbps: 100, size_cbps_per_unit: 5 },
        }],
        book_capacity: 4096,
        rfq: RfqConfig {
            tiers: vec![TierSpec { id: 1, name: "t".into(), markup_cbps: 30, fee_cbps: 100, ttl_ns: SEC, max_ttl_ns: SEC, allow_partial: false }],
            clients: vec![ClientSpec {
                id: 1,
                name: "c".into(),
                tier: 1,
                enabled: true,
                credit_limit: i64::MAX / 100,
                max_open_quotes: 1000,
                rfq_rate: Throttle::default(),
                accept_rate: Throttle::default(),
            }],
            risk: vec![InstrumentRisk {
                composite: 1,
                min_qty: 1,
                max_qty: 1000 * BTC,
                max_notional: i64::MAX / 1_000_000_000,
                long_limit: 1000 * BTC,
                short_limit: 1000 * BTC,
                collar_cbps: 20_000,
                approval_qty: 0,
                approval_notional: 0,
                approval_timeout_ns: SEC,
                restricted: false,
            }],
            pricing: vec![PricingV2 { composite: 1, skew_cbps_per_unit: 10, max_skew_cbps: 200, vol_mult_pct: 100, vol_ema_shift: 2, hedge_fee_cbps: 20 }],
            desk: DeskSpec { exec_count: 0, exec_window_ns: SEC, quote_table: 1 << 10, max_pending: 4 },
            hedging: Vec::new(),
        },
    }
}
