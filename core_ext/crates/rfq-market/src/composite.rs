//! Composites: member books with their conversions and basis, the published ladder, and
//! the market cache the RFQ fast path prices from.

use crate::instrument::InstrumentState;
use crate::QuoteLevel;
use rfq_book::composite::{Conversion, QtyConversion, RunOut, SweepPrefix, MAX_MEMBERS};
use rfq_kernel::pricing::MAX_SIZES;
use rfq_model::{CompositeSpec, ModelError, Side};

pub(crate) struct Member {
    pub(crate) inst: usize,
    /// Registry id of that instrument.
    pub(crate) instrument: u16,
    pub(crate) conv: Conversion,
    pub(crate) included: bool,
    /// EMA of `2 × (reference mid − member mid)` in composite price units (see basis_ema_shift).
    pub(crate) basis2: i64,
    pub(crate) basis_ready: bool,
}

pub(crate) struct CompositeState {
    pub(crate) spec: CompositeSpec,
    pub(crate) members: Vec<Member>,
    pub(crate) quotes: [QuoteLevel; MAX_SIZES],
    /// Bit i set = member i was usable at the last repricing.
    pub(crate) live_mask: u32,
    pub(crate) priced: bool,
}

/// The merged market of a composite as its last repricing saw it: best bid/ask and the first
/// merged levels of each side. Valid for a later RFQ or accept exactly when no member book has
/// changed since (per-instrument book epochs) and the same members are usable (the usable
/// set also depends on the clock) — then every input of the merge is the same, so so are its
/// results (basis offsets only change at a repricing).
pub(crate) struct MarketCache {
    /// Set by a repricing that swept (usable members, not crossed).
    pub(crate) valid: bool,
    /// Σ book epochs of the composite's members at that repricing.
    pub(crate) epoch: u64,
    /// Usable members at that repricing.
    pub(crate) mask: u32,
    /// Best bid and ask over the usable, basis-adjusted books.
    pub(crate) best: (Option<i64>, Option<i64>),
    /// `[bids, asks]` merged levels.
    pub(crate) prefix: [SweepPrefix; 2],
    /// `[bids, asks]` per ladder size: the composite price where the last repricing's sweep of
    /// that size ran out (`i64::MIN`: none yet). Where the next depth search starts; never
    /// changes a result (see `sweep_search`), so not in snapshots.
    pub(crate) hints: [[i64; MAX_SIZES]; 2],
    /// The last repricing's sweep notionals, `[bids, asks]` per size, valid while `reuse` holds
    /// and for the same usable members, basis offsets and sizes: a size whose sweep ran out
    /// strictly before every price changed since is taken from here (see `first_affected`);
    /// and an RFQ for a ladder size while the cache is valid takes its sweep from here
    /// ([`MarketCache::rung`]). A cache: not in snapshots (a restored core recomputes).
    pub(crate) last: [[Option<i128>; MAX_SIZES]; 2],
    /// `[bids, asks]` per size: where the sweep of `last` ran out, with the depth before and at
    /// that level ([`RunOut`]), for the sizes `last` fills, when `runs_exact` holds for that
    /// side: every filled size's entry was found by the search that gave `last` (or carried with
    /// it, unchanged, past a change that could not reach it — `first_affected`). Exact for a
    /// request exactly when `last` is: an RFQ for a size off the ladder is bracketed by the two
    /// rungs around it (`rfq_book::composite::sweep_between`). A cache: not in snapshots.
    pub(crate) runs: [[RunOut; MAX_SIZES]; 2],
    pub(crate) runs_exact: [bool; 2],
    pub(crate) reuse: bool,
    pub(crate) last_mask: u32,
    pub(crate) last_offsets: [i64; MAX_MEMBERS],
    pub(crate) last_sizes: [i64; MAX_SIZES],
}

impl MarketCache {
    /// The last repricing's sweep notional of ladder size `q` on `side` (`Some(None)`: too thin),
    /// `None` when `q` is not a size of that ladder. Exact for a request whenever the cache is
    /// (`Market::cached_market`: no member book changed and the same members usable since that
    /// repricing, which also fixed the basis offsets): the same sweep of the same books. Zero is
    /// never a size, so a restored core (no `last` in snapshots) finds nothing here.
    #[inline]
    pub(crate) fn rung(&self, side: Side, q: i64) -> Option<Option<i128>> {
        let i = self.last_sizes.iter().position(|&z| z == q && q > 0)?;
        Some(self.last[side as usize][i])
    }

    /// The exact run-outs of the ladder sizes next to `q` on `side` (the largest below it and
    /// the smallest above it, those the last repricing filled) into `buf`; how many (0 when the
    /// run-outs are not exact). Valid for a request exactly when [`MarketCache::rung`] is.
    #[inline]
    pub(crate) fn runs_around(&self, side: Side, q: i64, buf: &mut [RunOut; 2]) -> usize {
        let s = side as usize;
        if !self.runs_exact[s] {
            return 0;
        }
        // the sizes are positive and increasing; 0 ends them
        let nsz = self.last_sizes.iter().position(|&z| z <= 0).unwrap_or(MAX_SIZES);
        let j = self.last_sizes[..nsz].partition_point(|&z| z < q);
        let mut k = 0;
        for i in [j.wrapping_sub(1), j] {
            if i < nsz && self.last[s][i].is_some() {
                buf[k] = self.runs[s][i];
                k += 1;
            }
        }
        k
    }
}

impl MarketCache {
    pub(crate) fn new() -> MarketCache {
        MarketCache {
            valid: false,
            epoch: 0,
            mask: 0,
            best: (None, None),
            prefix: [SweepPrefix::default(), SweepPrefix::default()],
            hints: [[i64::MIN; MAX_SIZES]; 2],
            last: [[None; MAX_SIZES]; 2],
            runs: [[RunOut::default(); MAX_SIZES]; 2],
            runs_exact: [false; 2],
            reuse: false,
            last_mask: 0,
            last_offsets: [0; MAX_MEMBERS],
            last_sizes: [0; MAX_SIZES],
        }
    }
}


impl CompositeState {
    /// Composite number `ci` of `spec`, its members looked up in `by_id` (each instrument
    /// learns it is a member); `earlier` are the composites built before it.
    pub(crate) fn new(
        spec: CompositeSpec,
        ci: usize,
        by_id: &[u16],
        instruments: &mut [InstrumentState],
        earlier: &[CompositeState],
    ) -> Result<CompositeState, ModelError> {
        spec.validate()?;
        if earlier.iter().any(|c| c.spec.id == spec.id) {
            return Err(ModelError::BadComposite { composite: spec.name.clone(), why: format!("duplicate id {}", spec.id) });
        }
        if spec.pricing.sizes.len() > MAX_SIZES {
            return Err(ModelError::BadComposite { composite: spec.name.clone(), why: "too many sizes".into() });
        }
        if spec.members.is_empty() || spec.members.len() > MAX_MEMBERS {
            return Err(ModelError::BadComposite {
                composite: spec.name.clone(),
                why: format!("needs 1..={MAX_MEMBERS} members, has {}", spec.members.len()),
            });
        }
        let mut members = Vec::new();
        for &id in &spec.members {
            let idx = match by_id.get(id as usize) {
                Some(&i) if i != 0 => (i - 1) as usize,
                _ => {
                    return Err(ModelError::BadComposite {
                        composite: spec.name.clone(),
                        why: format!("member {id} is not a configured instrument"),
                    })
                }
            };
            let inst = &instruments[idx].spec;
            let conv = Conversion::new(inst, spec.price_decimals, spec.qty_decimals).ok_or_else(|| ModelError::BadComposite {
                composite: spec.name.clone(),
                why: format!("member {} has finer scales than the composite", inst.key()),
            })?;
            if members.iter().any(|m: &Member| m.inst == idx) {
                return Err(ModelError::BadComposite { composite: spec.name.clone(), why: format!("member {id} listed twice") });
            }
            instruments[idx].composites.push(ci);
            if let QtyConversion::Inverse(num) = conv.qty {
                // let the member's ladders aggregate its converted quantity, so sweeps search
                // instead of walking (a book already aggregating another composite's scale
                // keeps it; this composite then walks it — same result, slower)
                let book = &mut instruments[idx].book;
                if book.bids.inverse_num().is_none() {
                    book.bids.set_inverse(num);
                    book.asks.set_inverse(num);
                }
            }
            members.push(Member { inst: idx, instrument: id, conv, included: true, basis2: 0, basis_ready: false });
        }
        Ok(CompositeState { spec, members, quotes: [QuoteLevel::default(); MAX_SIZES], live_mask: 0, priced: false })
    }
}
