//! The encodings of the `rfq-model` configuration types the core keeps live (operators can
//! change them): throttles, risk limits, pricing parameters, tiers.

use crate::codec::{corrupt, mismatch, Dec, Decode, Encode, Out, Persist, R};
use rfq_model::{InstrumentRisk, PricingParams, PricingV2, Throttle, TierSpec};

impl Encode for Throttle {
    fn encode<O: Out>(&self, o: &mut O) {
        let Throttle { per_sec, burst } = *self;
        o.u32(per_sec);
        o.u32(burst);
    }
}

impl Decode for Throttle {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(Throttle { per_sec: d.u32()?, burst: d.u32()? })
    }
}

impl Encode for InstrumentRisk {
    fn encode<O: Out>(&self, o: &mut O) {
        let InstrumentRisk {
            composite,
            min_qty,
            max_qty,
            max_notional,
            long_limit,
            short_limit,
            collar_cbps,
            approval_qty,
            approval_notional,
            approval_timeout_ns,
            restricted,
        } = *self;
        o.u16(composite);
        for v in [min_qty, max_qty, max_notional, long_limit, short_limit, collar_cbps, approval_qty, approval_notional, approval_timeout_ns] {
            o.i64(v);
        }
        o.bool(restricted);
    }
}

impl Decode for InstrumentRisk {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(InstrumentRisk {
            composite: d.u16()?,
            min_qty: d.i64()?,
            max_qty: d.i64()?,
            max_notional: d.i64()?,
            long_limit: d.i64()?,
            short_limit: d.i64()?,
            collar_cbps: d.i64()?,
            approval_qty: d.i64()?,
            approval_notional: d.i64()?,
            approval_timeout_ns: d.i64()?,
            restricted: d.bool()?,
        })
    }
}

impl Encode for Option<InstrumentRisk> {
    fn encode<O: Out>(&self, o: &mut O) {
        o.bool(self.is_some());
        if let Some(r) = self {
            r.encode(o);
        }
    }
}

impl Decode for Option<InstrumentRisk> {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(if d.bool()? { Some(InstrumentRisk::decode(d)?) } else { None })
    }
}

impl Encode for PricingV2 {
    fn encode<O: Out>(&self, o: &mut O) {
        let PricingV2 { composite, skew_cbps_per_unit, max_skew_cbps, vol_mult_pct, vol_ema_shift, hedge_fee_cbps } = *self;
        o.u16(composite);
        for v in [skew_cbps_per_unit, max_skew_cbps, vol_mult_pct] {
            o.i64(v);
        }
        o.u32(vol_ema_shift);
        o.i64(hedge_fee_cbps);
    }
}

impl Decode for PricingV2 {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(PricingV2 {
            composite: d.u16()?,
            skew_cbps_per_unit: d.i64()?,
            max_skew_cbps: d.i64()?,
            vol_mult_pct: d.i64()?,
            vol_ema_shift: d.u32()?,
            hedge_fee_cbps: d.i64()?,
        })
    }
}

impl Persist for TierSpec {
    fn save<O: Out>(&self, o: &mut O) {
        let TierSpec { id, name: _, markup_cbps, fee_cbps, ttl_ns, max_ttl_ns, allow_partial } = self;
        o.u8(*id);
        for v in [*markup_cbps, *fee_cbps, *ttl_ns, *max_ttl_ns] {
            o.i64(v);
        }
        o.bool(*allow_partial);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u8()?;
        if id != self.id {
            return Err(mismatch(format!("tier {id}, this core's is {}", self.id)));
        }
        self.markup_cbps = d.i64()?;
        self.fee_cbps = d.i64()?;
        self.ttl_ns = d.i64()?;
        self.max_ttl_ns = d.i64()?;
        self.allow_partial = d.bool()?;
        Ok(())
    }
}

impl Encode for PricingParams {
    fn encode<O: Out>(&self, o: &mut O) {
        let PricingParams { sizes, base_cbps, size_cbps_per_unit } = self;
        o.len(sizes.len());
        for &s in sizes {
            o.i64(s);
        }
        o.i64(*base_cbps);
        o.i64(*size_cbps_per_unit);
    }
}

impl Decode for PricingParams {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        let n = d.len(crate::pricing::MAX_SIZES, "ladder sizes")?;
        let mut sizes = Vec::with_capacity(n);
        for _ in 0..n {
            sizes.push(d.i64()?);
        }
        let p = PricingParams { sizes, base_cbps: d.i64()?, size_cbps_per_unit: d.i64()? };
        p.validate().map_err(|why| corrupt(format!("pricing: {why}")))?;
        Ok(p)
    }
}
