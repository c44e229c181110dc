//! The one encoding of the market state: counters, composites' members, ladders and market
//! caches (`rfq_kernel::codec::Persist`; instruments encode in `instrument.rs`).

use crate::{CompositeState, Market, MarketCache, Member, QuoteLevel, Stats, MAX_SIZES};
use rfq_kernel::codec::{corrupt, mismatch, within, Dec, Decode, Encode, Out, Persist, R};

/// Observability counters: in snapshots, not in the state hash (a refused input counts).
impl Persist for Stats {
    fn save<O: Out>(&self, o: &mut O) {
        let Stats { records, messages, rejects, rejects_by_reason, level_updates, quotes, status_changes, repricings } = self;
        for v in [records, messages, rejects] {
            o.count(*v);
        }
        for &v in rejects_by_reason {
            o.count(v);
        }
        for v in [level_updates, quotes, status_changes, repricings] {
            o.count(*v);
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        for v in [&mut self.records, &mut self.messages, &mut self.rejects] {
            *v = d.count()?;
        }
        for v in &mut self.rejects_by_reason {
            *v = d.count()?;
        }
        for v in [&mut self.level_updates, &mut self.quotes, &mut self.status_changes, &mut self.repricings] {
            *v = d.count()?;
        }
        Ok(())
    }
}

/// A member's inclusion and basis; its instrument (checked) and conversion come from the
/// configuration.
impl Persist for Member {
    fn save<O: Out>(&self, o: &mut O) {
        let Member { inst: _, instrument, conv: _, included, basis2, basis_ready } = *self;
        o.u16(instrument);
        o.bool(included);
        o.i64(basis2);
        o.bool(basis_ready);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u16()?;
        if id != self.instrument {
            return Err(mismatch(format!("member instrument {id}, this core's is {}", self.instrument)));
        }
        self.included = d.bool()?;
        self.basis2 = d.i64()?;
        self.basis_ready = d.bool()?;
        Ok(())
    }
}

/// Members, the live pricing v1 parameters, the published ladder, the live mask; the rest of
/// the spec comes from the configuration.
impl Persist for CompositeState {
    fn save<O: Out>(&self, o: &mut O) {
        let CompositeState { spec, members, quotes, live_mask, priced } = self;
        o.u16(spec.id);
        o.len(members.len());
        for m in members {
            m.save(o);
        }
        spec.pricing.encode(o);
        for q in &quotes[..spec.pricing.sizes.len()] {
            let QuoteLevel { flags, reason, bid, ask } = *q;
            o.u8(flags);
            o.u8(reason);
            o.i64(bid);
            o.i64(ask);
        }
        o.u32(*live_mask);
        o.bool(*priced);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u16()?;
        if id != self.spec.id {
            return Err(mismatch(format!("composite id {id}, this core's is {}", self.spec.id)));
        }
        d.same_len(self.members.len(), &format!("members of composite {id}"))?;
        for m in &mut self.members {
            m.load(d)?;
        }
        self.spec.pricing = rfq_model::PricingParams::decode(d).map_err(within(format!("composite {id}")))?;
        self.quotes = [QuoteLevel::default(); MAX_SIZES];
        for q in self.quotes.iter_mut().take(self.spec.pricing.sizes.len()) {
            *q = QuoteLevel { flags: d.u8()?, reason: d.u8()?, bid: d.i64()?, ask: d.i64()? };
        }
        self.live_mask = d.u32()?;
        self.priced = d.bool()?;
        Ok(())
    }
}

/// A cache (never changes a result): in snapshots, so a restored core continues exactly
/// like the original, but not in the state hash.
impl Persist for MarketCache {
    fn save<O: Out>(&self, o: &mut O) {
        o.cache(|o| {
            let MarketCache { valid, epoch, mask, best, prefix, hints: _, last: _, runs: _, runs_exact: _, reuse: _, last_mask: _, last_offsets: _, last_sizes: _ } = self;
            o.bool(*valid);
            o.u64(*epoch);
            o.u32(*mask);
            o.opt_i64(best.0);
            o.opt_i64(best.1);
            for pre in prefix {
                o.bool(pre.complete());
                o.len(pre.len());
                for i in 0..pre.len() {
                    let (px, cq, cn) = pre.level(i);
                    o.i64(px);
                    o.i64(cq);
                    o.i128(cn);
                }
            }
        });
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.reuse = false;
        self.runs_exact = [false; 2];
        self.valid = d.bool()?;
        self.epoch = d.u64()?;
        self.mask = d.u32()?;
        self.best = (d.opt_i64()?, d.opt_i64()?);
        for pre in &mut self.prefix {
            let complete = d.bool()?;
            let k = d.len(rfq_book::composite::PREFIX_LEVELS, "prefix levels")?;
            let mut lv = Vec::with_capacity(k);
            for _ in 0..k {
                lv.push((d.i64()?, d.i64()?, d.i128()?));
            }
            pre.load(complete, &lv).map_err(|why| corrupt(format!("market cache: {why}")))?;
        }
        Ok(())
    }
}

/// The market as the core's snapshot holds it, after the clock: the output sequence,
/// counters, instruments, then each composite with its market cache.
impl Persist for Market {
    fn save<O: Out>(&self, o: &mut O) {
        let Market { instruments, by_id: _, composites, markets, market_cache: _, depth_search: _, rfq_priced: _, out_seq, stats, mids: _ } = self;
        o.u64(*out_seq);
        stats.save(o);
        o.len(instruments.len());
        for s in instruments {
            s.save(o);
        }
        o.len(composites.len());
        for (c, m) in composites.iter().zip(markets) {
            c.save(o);
            m.save(o);
        }
    }

    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.out_seq = d.u64()?;
        self.stats.load(d)?;
        d.same_len(self.instruments.len(), "instruments")?;
        for s in &mut self.instruments {
            s.load(d)?;
        }
        d.same_len(self.composites.len(), "composites")?;
        for (c, m) in self.composites.iter_mut().zip(&mut self.markets) {
            c.load(d)?;
            m.load(d).map_err(within(format!("composite {}", c.spec.id)))?;
        }
        Ok(())
    }
}
