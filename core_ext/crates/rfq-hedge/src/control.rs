//! SET_HEDGE: the operator's command on a composite's hedging policy (a CONTROL record the
//! engine routes here; the desk acknowledges it).

use crate::{mode_code, Hedging};
use rfq_model::HedgeMode;
use rfq_ring::record::control::field::hedge;
use rfq_ring::record::control::hedge_mode;
use rfq_ring::record::rfq_reject;
use rfq_ring::Record;

/// The reason of every malformed command.
const BAD: i64 = rfq_reject::BAD_COMMAND;

impl Hedging {
    /// SET_HEDGE: one hedging policy setting of composite index `ci` (`None`: unknown
    /// composite), applied at the next record (a due retry); `Ok(previous value)`.
    pub fn control_set_hedge(&mut self, ci: Option<usize>, r: &Record, now: i64) -> Result<i64, i64> {
        let ci = ci.ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        let hi = self.by_ci.get(ci).copied().flatten().ok_or(BAD)?;
        let s = &mut self.states[hi];
        let v = r.qty;
        let prev = match r.source {
            hedge::MODE => {
                let mode = match v {
                    hedge_mode::OFF => HedgeMode::Off,
                    hedge_mode::FULL => HedgeMode::Full,
                    hedge_mode::PARTIAL if (1..=100).contains(&s.spec.ratio_pct) => HedgeMode::Partial,
                    hedge_mode::THRESHOLD if s.spec.threshold > 0 => HedgeMode::Threshold,
                    _ => return Err(BAD),
                };
                if mode != HedgeMode::Off && s.venues.is_empty() {
                    return Err(BAD);
                }
                let old = std::mem::replace(&mut s.spec.mode, mode);
                mode_code(old).into()
            }
            hedge::RATIO_PCT if (1..=100).contains(&v) => std::mem::replace(&mut s.spec.ratio_pct, v),
            hedge::THRESHOLD if v > 0 => std::mem::replace(&mut s.spec.threshold, v),
            hedge::MAX_SLIPPAGE_CBPS if (0..1_000_000).contains(&v) => std::mem::replace(&mut s.spec.max_slippage_cbps, v),
            hedge::RETRY_NS if v >= 0 => std::mem::replace(&mut s.spec.retry_ns, v),
            _ => return Err(BAD),
        };
        // apply the new policy at the next record (a due retry)
        s.retry_at = now.max(1);
        Ok(prev)
    }
}
