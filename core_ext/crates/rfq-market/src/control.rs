//! The operator commands on the market (CONTROL records the engine routes here): the spread
//! parameters of a ladder, its sizes, and which members a composite includes. Each returns
//! `Ok(previous value)` or `Err(reason)`, changing nothing; the desk acknowledges.

use crate::{Market, MAX_SIZES};
use rfq_ring::record::control::field::{ladder, pricing};
use rfq_ring::record::rfq_reject;
use rfq_ring::Record;

/// The reason of every malformed command.
const BAD: i64 = rfq_reject::BAD_COMMAND;

impl Market {
    /// SET_PRICING of a ladder's spread (`BASE_CBPS`, `SIZE_CBPS_PER_UNIT`; repriced at the
    /// next tick). The engine routes the desk's pricing fields to the desk.
    pub fn control_set_spread(&mut self, r: &Record) -> Result<i64, i64> {
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        let c = &mut self.composites[ci];
        let mut n = c.spec.pricing.clone();
        let prev = match r.source {
            pricing::BASE_CBPS => std::mem::replace(&mut n.base_cbps, r.qty),
            pricing::SIZE_CBPS_PER_UNIT => std::mem::replace(&mut n.size_cbps_per_unit, r.qty),
            _ => return Err(BAD),
        };
        n.validate().map_err(|_| BAD)?;
        c.spec.pricing = n;
        // reprice the ladder at the next tick, as `set_pricing` does
        c.priced = false;
        Ok(prev)
    }

    /// SET_LADDER: set or append a ladder size, or cut the ladder (repriced at the next tick).
    pub fn control_set_ladder(&mut self, r: &Record) -> Result<i64, i64> {
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        let mut n = self.composites[ci].spec.pricing.clone();
        let prev = match r.source {
            ladder::SIZE_AT => {
                let i = usize::try_from(r.aux).map_err(|_| BAD)?;
                if r.qty <= 0 || i > n.sizes.len() || i >= MAX_SIZES {
                    return Err(BAD);
                }
                if i == n.sizes.len() {
                    n.sizes.push(r.qty);
                    0
                } else {
                    std::mem::replace(&mut n.sizes[i], r.qty)
                }
            }
            ladder::TRUNCATE => {
                let k = usize::try_from(r.qty).map_err(|_| BAD)?;
                if k == 0 || k > n.sizes.len() {
                    return Err(BAD);
                }
                let prev = n.sizes.len() as i64;
                n.sizes.truncate(k);
                prev
            }
            _ => return Err(BAD),
        };
        n.validate().map_err(|_| BAD)?;
        let id = self.composites[ci].spec.id;
        self.set_pricing(id, n).map_err(|_| BAD)?;
        Ok(prev)
    }

    /// SET_MEMBER: include or exclude a member of a composite.
    pub fn control_set_member(&mut self, r: &Record) -> Result<i64, i64> {
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        let inst = u16::try_from(r.price).map_err(|_| BAD)?;
        if !(0..=1).contains(&r.qty) {
            return Err(BAD);
        }
        let id = self.composites[ci].spec.id;
        let idx = self.index(inst).ok_or(BAD)?;
        let prev = self.composites[ci].members.iter().find(|m| m.inst == idx).map(|m| i64::from(m.included)).ok_or(BAD)?;
        self.set_member(id, inst, r.qty == 1).map_err(|_| BAD)?;
        Ok(prev)
    }
}
