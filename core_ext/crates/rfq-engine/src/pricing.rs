//! Pricing v1: composite sweep VWAP for each ladder size, plus a size-dependent spread.
//!
//! For size `q` (composite qty units) with half-spread `s` = `base + per_unit × q / 10^Qc`
//! (in cbps, 1e-6 relative):
//! - ask = ⌈ notional_ask(q) × (10^6 + s) / (q × 10^6) ⌉
//! - bid = ⌊ notional_bid(q) × (10^6 − s) / (q × 10^6) ⌋
//!
//! One exact rounding per price, always against the client (asks up, bids down).
//!
//! Pricing v2 (RFQ quotes, [`v2_spreads`]) prices one size per side with the same formulas and
//! a half-spread per side:
//! - `s = half_spread_cbps(v1, q) + tier markup + vol + hedge fee`, where
//!   `vol = ⌊EMA of |composite mid moves| (cbps) × vol_mult_pct / 100⌋`;
//! - inventory skew `k = clamp(skew_cbps_per_unit × desk position / 10^Qc, ±max_skew)` (toward
//!   zero), so a long desk lowers both prices and a short desk raises them;
//! - ask spread `max(s − k + adj, 0)`, bid spread `max(s + k + adj, 0)` (`adj` = an operator's
//!   approval adjustment, 0 otherwise).

use rfq_model::fixed::{div_ceil_i128, div_floor_i128, pow10};
use rfq_model::{PricingParams, PricingV2};

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
    let num = notional * (PPM + spread_cbps);
    let den = i128::from(size) * PPM;
    if num >= 0 && den > 0 {
        // one unsigned division instead of div_euclid + rem_euclid (same result for num ≥ 0)
        (num as u128).div_ceil(den as u128) as i64
    } else {
        div_ceil_i128(num, den) as i64
    }
}

/// Bid price from the exact sweep notional (never below 0).
#[inline]
pub fn bid_price(notional: i128, size: i64, spread_cbps: i128) -> i64 {
    let num = notional * (PPM - spread_cbps).max(0);
    let den = i128::from(size) * PPM;
    if num >= 0 && den > 0 {
        ((num as u128) / den as u128) as i64
    } else {
        (div_floor_i128(num, den) as i64).max(0)
    }
}

/// Pricing v2 half-spreads `(ask, bid)` in cbps for size `q` (see the module docs). `vol_m`
/// is the volatility EMA in milli-cbps.
#[allow(clippy::too_many_arguments, reason = "every input of the formula, no state")]
#[inline]
pub fn v2_spreads(
    v1: &PricingParams,
    qty_decimals: u32,
    q: i64,
    markup_cbps: i64,
    vol_m: i64,
    v2: &PricingV2,
    desk_pos: i64,
    adj_cbps: i64,
) -> (i128, i128) {
    let vol = i128::from(vol_m) * i128::from(v2.vol_mult_pct) / 100_000;
    let s = half_spread_cbps(v1, q, qty_decimals) + i128::from(markup_cbps) + vol + i128::from(v2.hedge_fee_cbps);
    let max = i128::from(v2.max_skew_cbps);
    let k = (i128::from(v2.skew_cbps_per_unit) * i128::from(desk_pos) / i128::from(pow10(qty_decimals))).clamp(-max, max);
    let adj = i128::from(adj_cbps);
    ((s - k + adj).max(0), (s + k + adj).max(0))
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

    proptest::proptest! {
        #[test]
        fn fast_rounding_matches_the_reference(n in 0_i128..1_i128 << 100, size in 1_i64..i64::MAX, s in 0_i128..2_000_000) {
            let den = i128::from(size) * PPM;
            proptest::prop_assert_eq!(ask_price(n, size, s), div_ceil_i128(n * (PPM + s), den) as i64);
            proptest::prop_assert_eq!(bid_price(n, size, s), (div_floor_i128(n * (PPM - s).max(0), den) as i64).max(0));
        }
    }

    #[test]
    fn spread_grows_with_size() {
        let p = PricingParams { sizes: vec![1], base_cbps: 100, size_cbps_per_unit: 5 };
        assert_eq!(half_spread_cbps(&p, 10 * 100_000_000, 8), 150);
        assert_eq!(half_spread_cbps(&p, 50_000_000, 8), 102); // 0.5 BTC: 2.5 floored to 2
    }
}

#[cfg(test)]
mod v2_tests {
    use super::*;

    #[test]
    fn v2_spreads_add_markup_vol_hedge_and_skew() {
        let v1 = PricingParams { sizes: vec![1], base_cbps: 100, size_cbps_per_unit: 10 };
        let v2 = PricingV2 { composite: 1, skew_cbps_per_unit: 20, max_skew_cbps: 50, vol_mult_pct: 50, vol_ema_shift: 0, hedge_fee_cbps: 5 };
        // 2 BTC: 100 + 20 (size) + 30 markup + 40 (80 cbps vol × 50%) + 5 hedge = 195
        // desk long 1.5 BTC: skew 30 → ask 165, bid 225
        assert_eq!(v2_spreads(&v1, 8, 200_000_000, 30, 80_000, &v2, 150_000_000, 0), (165, 225));
        // desk short 10 BTC: skew −200 clamped to −50 → ask 245, bid 145
        assert_eq!(v2_spreads(&v1, 8, 200_000_000, 30, 80_000, &v2, -1_000_000_000, 0), (245, 145));
        // a long skew beyond the spread floors the ask spread at 0; adj widens both
        let big = PricingV2 { max_skew_cbps: 1_000, skew_cbps_per_unit: 1_000, ..v2 };
        assert_eq!(v2_spreads(&v1, 8, 200_000_000, 30, 80_000, &big, 100_000_000, 7), (0, 195 + 1_000 + 7));
    }
}
