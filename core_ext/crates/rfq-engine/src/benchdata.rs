//! Shared by the benchmark binaries (feature `bench`): the BTC instruments of
//! `src/rfqcore/defaults/instruments.toml`, an RFQ desk whose limits never bind, and the cached
//! ring records that `bench/bench_data.py` prepares from `../shared/data`.

use std::path::PathBuf;

use crate::CoreConfig;
use rfq_model::{
    ClientSpec, CompositeSpec, DeskSpec, Instrument, InstrumentKind, InstrumentRisk, PricingParams, PricingV2, RfqConfig, Throttle,
    TierSpec,
};
use hdrhistogram::Histogram;
use rfq_ring::record::flags;
use rfq_ring::Record;

/// One BTC in composite quantity units.
pub const BTC: i64 = 100_000_000;

/// An instrument row (lot 1).
#[allow(clippy::too_many_arguments, reason = "one row of the instrument table per call")]
pub fn inst(id: u16, venue: &str, symbol: &str, kind: InstrumentKind, pd: u32, qd: u32, tick: i64, cs: i64, max_qty: i64) -> Instrument {
    Instrument { id, symbol: symbol.into(), venue: venue.into(), kind, price_decimals: pd, qty_decimals: qd, tick, lot: 1, contract_size: cs, max_qty, book_window: rfq_model::DEFAULT_BOOK_WINDOW }
}

/// The BTC part of `src/rfqcore/defaults/instruments.toml` (as in `engine_bench`), plus an RFQ
/// desk whose limits never bind (the bench measures the full path, not early rejects) and
/// pricing v2 with every component on.
pub fn config(instruments: Vec<Instrument>, members: Vec<u16>) -> CoreConfig {
    CoreConfig {
        instruments,
        composites: vec![composite(1, "BTC", 2, members, vec![10_000_000, 100_000_000])],
        book_capacity: 65_536,
        rfq: desk(&[1]),
    }
}

/// The bench composite `id` (8 qty decimals, stale after 5 s, basis EMA and cross tolerance
/// on) over `members`, quoting the ladder `sizes`.
pub fn composite(id: u16, name: &str, price_decimals: u32, members: Vec<u16>, sizes: Vec<i64>) -> CompositeSpec {
    CompositeSpec {
        id,
        name: name.into(),
        price_decimals,
        qty_decimals: 8,
        members,
        stale_after_ns: 5_000_000_000,
        basis_ema_shift: 3,
        cross_tolerance_cbps: 200,
        pricing: PricingParams { sizes, base_cbps: 100, size_cbps_per_unit: 5 },
    }
}

/// The bench RFQ desk over `composites`: one tier and one client, risk limits that never bind
/// and pricing v2 with every component on, for each composite in order.
pub fn desk(composites: &[u16]) -> RfqConfig {
    RfqConfig {
        tiers: vec![TierSpec {
            id: 1,
            name: "gold".into(),
            markup_cbps: 50,
            fee_cbps: 100,
            ttl_ns: 60_000_000_000,
            max_ttl_ns: 60_000_000_000,
            allow_partial: false,
        }],
        clients: vec![ClientSpec {
            id: 1,
            name: "bench".into(),
            tier: 1,
            enabled: true,
            credit_limit: i64::MAX / 100,
            max_open_quotes: 1_000_000,
            rfq_rate: Throttle { per_sec: 1_000_000_000, burst: 1_000_000 },
            accept_rate: Throttle { per_sec: 1_000_000_000, burst: 1_000_000 },
        }],
        risk: composites
            .iter()
            .map(|&composite| InstrumentRisk {
                composite,
                min_qty: 1_000,
                max_qty: 1_000 * BTC,
                max_notional: i64::MAX / 1_000_000_000,
                long_limit: 1_000_000 * BTC,
                short_limit: 1_000_000 * BTC,
                collar_cbps: 50_000,
                approval_qty: 0,
                approval_notional: 0,
                approval_timeout_ns: 1_000_000_000,
                restricted: false,
            })
            .collect(),
        pricing: composites
            .iter()
            .map(|&composite| PricingV2 { composite, skew_cbps_per_unit: 10, max_skew_cbps: 200, vol_mult_pct: 100, vol_ema_shift: 4, hedge_fee_cbps: 20 })
            .collect(),
        desk: DeskSpec { exec_count: 0, exec_window_ns: 1_000_000_000, quote_table: 1 << 16, max_pending: 1024 },
        hedging: Vec::new(),
    }
}

/// [`config`] over the real spot, USD-M and COIN-M BTC instruments (ids 1, 3, 5).
pub fn real_config() -> CoreConfig {
    config(
        vec![
            inst(1, "binance-spot", "BTCUSDT", InstrumentKind::Spot, 2, 6, 1, 0, 100_000_000_000),
            inst(3, "binance-usdm", "BTCUSDT", InstrumentKind::Linear, 2, 3, 10, 0, 100_000_000),
            inst(5, "binance-coinm", "BTCUSD_PERP", InstrumentKind::Inverse, 1, 0, 1, 100, 100_000_000),
        ],
        vec![1, 3, 5],
    )
}

/// `$RFQCORE_BENCH_CACHE` or `/tmp/rfqcore-bench`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("RFQCORE_BENCH_CACHE").map_or_else(|| PathBuf::from("/tmp/rfqcore-bench"), PathBuf::from)
}

/// Raw 64-byte records (docs/ring-layout.md), little-endian.
pub fn load(name: &str) -> Result<Vec<Record>, String> {
    let path = cache_dir().join(format!("{name}.rec"));
    let b = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.len() % 64 != 0 {
        return Err(format!("{}: length {} is not a multiple of 64", path.display(), b.len()));
    }
    let u16_at = |r: &[u8], o: usize| u16::from_le_bytes([r[o], r[o + 1]]);
    let u64_at = |r: &[u8], o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap());
    let i64_at = |r: &[u8], o: usize| i64::from_le_bytes(r[o..o + 8].try_into().unwrap());
    Ok(b.chunks_exact(64)
        .map(|r| Record {
            kind: u16_at(r, 0),
            instrument: u16_at(r, 2),
            side: r[4],
            flags: r[5],
            source: u16_at(r, 6),
            seq: u64_at(r, 8),
            ts_event: i64_at(r, 16),
            ts_recv: i64_at(r, 24),
            price: i64_at(r, 32),
            qty: i64_at(r, 40),
            aux: i64_at(r, 48),
            ts_send: i64_at(r, 56),
        })
        .collect())
}

/// `(start, end)` record ranges of the venue messages (each ends with an END record).
pub fn messages(recs: &[Record]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, r) in recs.iter().enumerate() {
        if r.flags & flags::END != 0 {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    out
}

/// A histogram quantile, 0 for an empty histogram.
pub fn quantile(h: &Histogram<u64>, x: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(x)
    }
}
