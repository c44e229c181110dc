//! Pricing v1: composite sweep VWAP for each ladder size, plus a size-dependent spread.
//!
//! For size `q` (composite qty units) with half-spread `s` = `base + per_unit × q / 10^Qc`
//! (in cbps, 1e-6 relative):
//! - ask = ⌈ notional_ask(q) × (10^6 + s) / (q × 10^6) ⌉
//! - bid = ⌊ notional_bid(q) × (10^6 − s) / (q × 10^6) ⌋
//!
//! One exact rounding per price, always against the client (asks up, bids down).

use rfq_model::fixed::{div_ceil_i128, div_floor_i128, pow10};
use rfq_model::PricingParams;

/// Parts per million in the spread unit (1 cbps = 1e-6).
pub const PPM: i128 = 1_000_000;

/// One rung of a two-way quote as last published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuoteLevel {
    /// `BID_VALID | ASK_VALID` flags.
    pub flags: u8,
    /// Withdrawal reason (0 = none).
    pub reason: u8,
    /// Bid price, composite units (0 if invalid).
    pub bid: i64,
    /// Ask price, composite units (0 if invalid).
    pub ask: i64,
}

/// Half-spread in cbps for `size`.
#[inline]
pub fn half_spread_cbps(p: &PricingParams, size: i64, qty_decimals: u32) -> i128 {
    i128::from(p.base_cbps) + i128::from(p.size_cbps_per_unit) * i128::from(size) / i128::from(pow10(qty_decimals))
}

/// Ask price from the exact sweep notional.
#[inline]
pub fn ask_price(notional: i128, size: i64, spread_cbps: i128) -> i64 {
    div_ceil_i128(notional * (PPM + spread_cbps), i128::from(size) * PPM) as i64
}

/// Bid price from the exact sweep notional (never below 1 price unit).
#[inline]
pub fn bid_price(notional: i128, size: i64, spread_cbps: i128) -> i64 {
    (div_floor_i128(notional * (PPM - spread_cbps).max(0), i128::from(size) * PPM) as i64).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_against_the_client() {
        // 1 BTC (1e8 sat) at 61_837.64 (6_183_764 cents) → notional 6_183_764e8
        let n = 6_183_764_i128 * 100_000_000;
        assert_eq!(ask_price(n, 100_000_000, 0), 6_183_764);
        // +1bp = 100 cbps: 6_183_764 × 1.0001 = 6_184_382.3764 → up to 6_184_383
        assert_eq!(ask_price(n, 100_000_000, 100), 6_184_383);
        // −1bp: 6_183_145.6236 → down to 6_183_145
        assert_eq!(bid_price(n, 100_000_000, 100), 6_183_145);
    }

    #[test]
    fn spread_grows_with_size() {
        let p = PricingParams { sizes: vec![1], base_cbps: 100, size_cbps_per_unit: 5 };
        assert_eq!(half_spread_cbps(&p, 10 * 100_000_000, 8), 150);
        assert_eq!(half_spread_cbps(&p, 50_000_000, 8), 102); // 0.5 BTC: 2.5 floored to 2
    }
}
