//! Exact fixed-point values.
//!
//! A value with `d` decimals is stored as the integer `value * 10^d`. Conversions between
//! scales only ever multiply by a power of ten (exact) or divide with an explicit rounding
//! direction; nothing goes through a float.

use crate::error::ModelError;

/// Largest number of decimals any scale may have (10^18 still fits in an `i64`).
pub const MAX_DECIMALS: u32 = 18;

/// `10^n` as an `i64`. Panics in debug builds if `n > 18`.
#[inline]
pub const fn pow10(n: u32) -> i64 {
    10_i64.pow(n)
}

/// Parse a non-negative decimal string exactly at `decimals` places.
///
/// Digits past the scale are accepted only when they are zeros (`"61737.63000000"` at 2
/// decimals is `6173763`); anything else is an error, never a rounding. Signs, exponents,
/// empty parts and values that overflow `i64` are refused.
pub fn parse_fixed(text: &str, decimals: u32) -> Result<i64, ModelError> {
    let err = |why: &'static str| ModelError::BadDecimal { text: text.to_string(), decimals, why };
    if decimals > MAX_DECIMALS {
        return Err(err("scale above 18 decimals"));
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int_part.is_empty() {
        return Err(err("no integer digits"));
    }
    if text.contains('.') && frac_part.is_empty() {
        return Err(err("no digits after the decimal point"));
    }
    let mut value: i64 = 0;
    for b in int_part.bytes() {
        if !b.is_ascii_digit() {
            return Err(err("not a plain non-negative decimal"));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(|| err("overflows a 64-bit fixed-point value"))?;
    }
    let frac = frac_part.as_bytes();
    for i in 0..decimals as usize {
        let digit = match frac.get(i) {
            Some(b) if b.is_ascii_digit() => i64::from(b - b'0'),
            Some(_) => return Err(err("not a plain non-negative decimal")),
            None => 0,
        };
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or_else(|| err("overflows a 64-bit fixed-point value"))?;
    }
    for b in frac.iter().skip(decimals as usize) {
        match b {
            b'0' => {}
            b'1'..=b'9' => return Err(err("more precision than the scale allows")),
            _ => return Err(err("not a plain non-negative decimal")),
        }
    }
    Ok(value)
}

/// Format a fixed-point value with `decimals` places (for messages and logs, not hot paths).
pub fn format_fixed(value: i64, decimals: u32) -> String {
    if decimals == 0 {
        return value.to_string();
    }
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let p = 10_u64.pow(decimals);
    format!("{sign}{}.{:0width$}", abs / p, abs % p, width = decimals as usize)
}

/// Rescale `value` from `from` decimals up to `to >= from` decimals; `None` on overflow.
#[inline]
pub fn upscale(value: i64, from: u32, to: u32) -> Option<i64> {
    debug_assert!(to >= from);
    value.checked_mul(pow10(to - from))
}

/// Integer division rounding towards +infinity (for positive divisors).
#[inline]
pub fn div_ceil_i128(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    let q = num.div_euclid(den);
    if num.rem_euclid(den) == 0 {
        q
    } else {
        q + 1
    }
}

/// Integer division rounding towards −infinity (for positive divisors).
#[inline]
pub fn div_floor_i128(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    num.div_euclid(den)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_values() {
        assert_eq!(parse_fixed("0", 8).unwrap(), 0);
        assert_eq!(parse_fixed("0.00000001", 8).unwrap(), 1);
        assert_eq!(parse_fixed("61737.63000000", 2).unwrap(), 6_173_763);
        assert_eq!(parse_fixed("1645", 0).unwrap(), 1645);
        assert_eq!(parse_fixed("1.5", 3).unwrap(), 1500);
    }

    #[test]
    fn refuses_bad_text() {
        for bad in ["", ".", "1.", ".5", "-1", "+1", "1e5", "1.2.3", "abc", " 1", "1,5"] {
            assert!(parse_fixed(bad, 4).is_err(), "{bad:?} accepted");
        }
        assert!(parse_fixed("1.001", 2).is_err());
        assert!(parse_fixed("99999999999999999999", 0).is_err());
        assert!(parse_fixed("92233720368547758.08", 2).is_err());
        assert_eq!(parse_fixed("92233720368547758.07", 2).unwrap(), i64::MAX);
    }

    #[test]
    fn rounding_helpers() {
        assert_eq!(div_ceil_i128(7, 2), 4);
        assert_eq!(div_ceil_i128(8, 2), 4);
        assert_eq!(div_floor_i128(7, 2), 3);
        assert_eq!(div_ceil_i128(-7, 2), -3);
        assert_eq!(div_floor_i128(-7, 2), -4);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(v in 0_i64..i64::MAX, d in 0_u32..=12) {
            prop_assert_eq!(parse_fixed(&format_fixed(v, d), d).unwrap(), v);
        }
    }
}
