//! CONTROL commands that change a desk setting (client, instrument, tier, pricing v2, desk):
//! validated as a whole and applied, or refused changing nothing. (The ladder, member and
//! hedging commands belong to the market and hedging.)

use crate::control::{flag, BAD};
use crate::Desk;
use crate::risk::MAX_EXEC_COUNT;
use rfq_model::RfqConfig;
use rfq_ring::record::control::field::{client, desk, instrument, pricing, tier};
use rfq_ring::record::rfq_reject;
use rfq_ring::Record;

impl Desk {
    /// SET_CLIENT: one setting of a client (credit limit, open quotes, throttles, tier, enabled).
    pub(super) fn control_set_client(&mut self, r: &Record) -> Result<i64, i64> {
        let k = self.control_client(r.price)?;
        let v = r.qty;
        let rfq = &mut self.rfq;
        let known_tier = u8::try_from(v).ok().and_then(|t| rfq.tier_index(t)).is_some();
        let c = &mut rfq.clients[k];
        let u32v = u32::try_from(v).map_err(|_| BAD);
        let prev = match r.source {
            client::CREDIT_LIMIT if v >= 0 => std::mem::replace(&mut c.spec.credit_limit, v),
            client::MAX_OPEN_QUOTES => i64::from(std::mem::replace(&mut c.spec.max_open_quotes, u32v?)),
            client::RFQ_RATE | client::ACCEPT_RATE => {
                let t = if r.source == client::RFQ_RATE { c.spec.rfq_rate } else { c.spec.accept_rate };
                let n = rfq_model::Throttle { per_sec: u32v?, ..t };
                if n.per_sec > 0 && n.burst == 0 {
                    return Err(BAD);
                }
                c.set_throttle(r.source == client::RFQ_RATE, n);
                i64::from(t.per_sec)
            }
            client::RFQ_BURST | client::ACCEPT_BURST => {
                let t = if r.source == client::RFQ_BURST { c.spec.rfq_rate } else { c.spec.accept_rate };
                let n = rfq_model::Throttle { burst: u32v?, ..t };
                if n.per_sec > 0 && n.burst == 0 {
                    return Err(BAD);
                }
                c.set_throttle(r.source == client::RFQ_BURST, n);
                i64::from(t.burst)
            }
            client::TIER if known_tier => i64::from(std::mem::replace(&mut c.spec.tier, v as u8)),
            client::ENABLED => i64::from(std::mem::replace(&mut c.spec.enabled, flag(v)?)),
            _ => return Err(BAD),
        };
        Ok(prev)
    }

    /// SET_INSTRUMENT: one risk limit of a composite (the whole set validated).
    pub(super) fn control_set_instrument(&mut self, r: &Record) -> Result<i64, i64> {
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        let risk = self.rfq.inst[ci].risk.as_mut().ok_or(BAD)?;
        let mut n = risk.clone();
        let v = r.qty;
        let field = match r.source {
            instrument::MIN_QTY => &mut n.min_qty,
            instrument::MAX_QTY => &mut n.max_qty,
            instrument::MAX_NOTIONAL => &mut n.max_notional,
            instrument::LONG_LIMIT => &mut n.long_limit,
            instrument::SHORT_LIMIT => &mut n.short_limit,
            instrument::COLLAR_CBPS => &mut n.collar_cbps,
            instrument::APPROVAL_QTY => &mut n.approval_qty,
            instrument::APPROVAL_NOTIONAL => &mut n.approval_notional,
            instrument::APPROVAL_TIMEOUT_NS => &mut n.approval_timeout_ns,
            _ => return Err(BAD),
        };
        let prev = std::mem::replace(field, v);
        let check = RfqConfig { risk: vec![n.clone()], ..RfqConfig::default() };
        check.validate().map_err(|_| BAD)?;
        *risk = n;
        Ok(prev)
    }

    /// SET_TIER: one setting of a tier (the whole tier validated).
    pub(super) fn control_set_tier(&mut self, r: &Record) -> Result<i64, i64> {
        let t = u8::try_from(r.price).ok().and_then(|t| if t == 0 { None } else { self.rfq.tier_index(t) }).ok_or(BAD)?;
        let tier = &mut self.rfq.tiers[t];
        let mut n = tier.clone();
        let v = r.qty;
        let prev = match r.source {
            tier::MARKUP_CBPS => std::mem::replace(&mut n.markup_cbps, v),
            tier::FEE_CBPS => std::mem::replace(&mut n.fee_cbps, v),
            tier::TTL_NS => std::mem::replace(&mut n.ttl_ns, v),
            tier::MAX_TTL_NS => std::mem::replace(&mut n.max_ttl_ns, v),
            tier::ALLOW_PARTIAL => i64::from(std::mem::replace(&mut n.allow_partial, flag(v)?)),
            _ => return Err(BAD),
        };
        let check = RfqConfig { tiers: vec![n.clone()], ..RfqConfig::default() };
        check.validate().map_err(|_| BAD)?;
        *tier = n;
        Ok(prev)
    }

    /// SET_PRICING: one pricing v2 knob of a composite (skew, volatility, hedge fee; the
    /// engine routes the ladder's spreads to the market).
    pub(super) fn control_set_pricing(&mut self, r: &Record) -> Result<i64, i64> {
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        let v = r.qty;
        let p = &mut self.rfq.inst[ci].pricing;
        let prev = match r.source {
            pricing::SKEW_CBPS_PER_UNIT if v >= 0 => std::mem::replace(&mut p.skew_cbps_per_unit, v),
            pricing::MAX_SKEW_CBPS if v >= 0 => std::mem::replace(&mut p.max_skew_cbps, v),
            pricing::VOL_MULT_PCT if v >= 0 => std::mem::replace(&mut p.vol_mult_pct, v),
            pricing::VOL_EMA_SHIFT if (0..=20).contains(&v) => i64::from(std::mem::replace(&mut p.vol_ema_shift, v as u32)),
            pricing::HEDGE_FEE_CBPS if v >= 0 => std::mem::replace(&mut p.hedge_fee_cbps, v),
            _ => return Err(BAD),
        };
        Ok(prev)
    }

    /// SET_DESK: the desk's repeated-execution throttle.
    pub(super) fn control_set_desk(&mut self, r: &Record) -> Result<i64, i64> {
        let v = r.qty;
        let d = &mut self.rfq.desk;
        match r.source {
            desk::EXEC_COUNT if (0..=MAX_EXEC_COUNT as i64).contains(&v) => Ok(i64::from(std::mem::replace(&mut d.exec_count, v as u32))),
            desk::EXEC_WINDOW_NS if v > 0 => Ok(std::mem::replace(&mut d.exec_window_ns, v)),
            _ => Err(BAD),
        }
    }
}
