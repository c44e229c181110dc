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

/// Largest quote ladder per composite.
pub const MAX_SIZES: usize = 32;

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

/// `a × b / d` (`d > 0`) truncated toward zero, exactly as in `i128`; in `i64` when the
/// product fits (a hardware division instead of `__divti3`).
#[inline]
fn mul_div(a: i64, b: i64, d: i64) -> i128 {
    match a.checked_mul(b) {
        Some(x) => i128::from(x / d),
        None => i128::from(a) * i128::from(b) / i128::from(d),
    }
}

/// Half-spread in cbps for `size`.
#[inline]
pub fn half_spread_cbps(p: &PricingParams, size: i64, qty_decimals: u32) -> i128 {
    i128::from(p.base_cbps) + mul_div(p.size_cbps_per_unit, size, pow10(qty_decimals))
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
    let vol = mul_div(vol_m, v2.vol_mult_pct, 100_000);
    let s = half_spread_cbps(v1, q, qty_decimals) + i128::from(markup_cbps) + vol + i128::from(v2.hedge_fee_cbps);
    let max = i128::from(v2.max_skew_cbps);
    let k = mul_div(v2.skew_cbps_per_unit, desk_pos, pow10(qty_decimals)).clamp(-max, max);
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
    use proptest::prelude::prop_oneof;

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

    /// The formula exactly as documented, all in `i128`.
    #[allow(clippy::too_many_arguments)]
    fn reference(v1: &PricingParams, qd: u32, q: i64, markup: i64, vol_m: i64, v2: &PricingV2, pos: i64, adj: i64) -> (i128, i128) {
        let w = i128::from;
        let vol = w(vol_m) * w(v2.vol_mult_pct) / 100_000;
        let s = w(v1.base_cbps) + w(v1.size_cbps_per_unit) * w(q) / w(pow10(qd)) + w(markup) + vol + w(v2.hedge_fee_cbps);
        let max = w(v2.max_skew_cbps);
        let k = (w(v2.skew_cbps_per_unit) * w(pos) / w(pow10(qd))).clamp(-max, max);
        ((s - k + w(adj)).max(0), (s + k + w(adj)).max(0))
    }

    proptest::proptest! {
        #[test]
        fn v2_spreads_match_the_i128_formula(
            base in 0_i64..1_000_000, per_unit in prop_oneof![0_i64..10_000, 0_i64..i64::MAX],
            qd in 0_u32..=18, q in prop_oneof![1_i64..1 << 40, 1_i64..i64::MAX],
            markup in 0_i64..100_000, vol_m in prop_oneof![0_i64..10_000_000, 0_i64..i64::MAX / 4], mult in prop_oneof![0_i64..1_000, 0_i64..i64::MAX],
            skew in prop_oneof![0_i64..10_000, 0_i64..i64::MAX], max_skew in 0_i64..1_000_000, pos in prop_oneof![-(1_i64 << 40)..1 << 40, i64::MIN..i64::MAX],
            hedge in 0_i64..10_000, adj in -999_999_i64..1_000_000,
        ) {
            let v1 = PricingParams { sizes: vec![1], base_cbps: base, size_cbps_per_unit: per_unit };
            let v2 = PricingV2 { composite: 1, skew_cbps_per_unit: skew, max_skew_cbps: max_skew, vol_mult_pct: mult, vol_ema_shift: 0, hedge_fee_cbps: hedge };
            proptest::prop_assert_eq!(v2_spreads(&v1, qd, q, markup, vol_m, &v2, pos, adj), reference(&v1, qd, q, markup, vol_m, &v2, pos, adj));
        }
    }
}
