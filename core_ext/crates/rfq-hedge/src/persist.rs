//! The one encoding of hedging state (`crate::codec::Persist`).

use super::*;

/// Link state and hedge position of one venue; the rest comes from the configuration.
impl Persist for VenueState {
    fn save<O: Out>(&self, o: &mut O) {
        let VenueState { spec, member: _, inst: _, conv: _, qty_mult: _, lot: _, tick: _, max_order: _, up, position, working } = self;
        o.u16(spec.venue);
        o.bool(*up);
        o.i64(*position);
        o.i64(*working);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let vid = d.u16()?;
        if vid != self.spec.venue {
            return Err(mismatch(format!("hedge venue {vid}, this core's is {}", self.spec.venue)));
        }
        self.up = d.bool()?;
        self.position = d.i64()?;
        self.working = d.i64()?;
        Ok(())
    }
}

/// The internal crossing book: its resting desk orders in priority order per side (restored by
/// resubmitting them, which keeps that order), the taker id counter and the owner's position.
impl Persist for Internal {
    fn save<O: Out>(&self, o: &mut O) {
        let Internal { book, next_taker, position, fills } = self;
        o.u64(*next_taker);
        o.u64(*fills);
        position.encode(o);
        for side in [Side::Bid, Side::Ask] {
            o.len(book.orders(side).count());
            for ord in book.orders(side) {
                o.u64(ord.id);
                o.i64(ord.price);
                o.i64(ord.qty);
            }
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.next_taker = d.u64()?;
        self.fills = d.u64()?;
        self.position = Position::decode(d)?;
        if !self.book.is_empty() {
            return Err(mismatch("restoring into a core whose internal book is not empty"));
        }
        for side in [Side::Bid, Side::Ask] {
            for _ in 0..d.len(1 << 22, "internal book orders")? {
                let (id, price, qty) = (d.u64()?, d.i64()?, d.i64()?);
                let order = rfq_match::NewOrder { id, account: DESK_ACCOUNT, side, kind: OrderType::Limit, tif: TimeInForce::Gtc, post_only: PostOnly::Off, price, qty };
                let mut ev: Vec<MatchEvent> = Vec::with_capacity(1);
                self.book.submit(&order, &mut ev);
                if !matches!(ev.as_slice(), [MatchEvent::Accepted { .. }]) {
                    return Err(corrupt(format!("internal book order {id} does not rest again: {ev:?}")));
                }
            }
        }
        Ok(())
    }
}

/// The live policy (CONTROL SET_HEDGE changes it), flow, hedge and slippage totals,
/// availability, counters, venues and the internal book.
impl Persist for HedgeState {
    fn save<O: Out>(&self, o: &mut O) {
        let HedgeState {
            ci: _,
            spec,
            venues,
            client_flow,
            hedged,
            pending,
            ref_qty,
            ref_notional,
            slippage,
            matched_notional,
            fees,
            available,
            retry_at,
            orders,
            fills,
            refused,
            internal,
        } = self;
        let HedgeSpec { composite, mode, ratio_pct, threshold, max_slippage_cbps, retry_ns, venues: _, internal: _ } = spec;
        o.u16(*composite);
        o.u8(mode_code(*mode));
        for v in [*ratio_pct, *threshold, *max_slippage_cbps, *retry_ns] {
            o.i64(v);
        }
        for v in [*client_flow, *hedged, *pending, *ref_qty, *retry_at] {
            o.i64(v);
        }
        for v in [*ref_notional, *slippage, *matched_notional, *fees] {
            o.i128(v);
        }
        o.bool(*available);
        o.u64(*orders);
        o.u64(*fills);
        o.count(*refused);
        o.len(venues.len());
        for v in venues {
            v.save(o);
        }
        o.bool(internal.is_some());
        if let Some(i) = internal {
            i.save(o);
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u16()?;
        if id != self.spec.composite {
            return Err(mismatch(format!("hedged composite {id}, this core's is {}", self.spec.composite)));
        }
        self.spec.mode = mode_of(d.u8()?).ok_or_else(|| corrupt("hedging mode"))?;
        self.spec.ratio_pct = d.i64()?;
        self.spec.threshold = d.i64()?;
        self.spec.max_slippage_cbps = d.i64()?;
        self.spec.retry_ns = d.i64()?;
        self.client_flow = d.i64()?;
        self.hedged = d.i64()?;
        self.pending = d.i64()?;
        self.ref_qty = d.i64()?;
        self.retry_at = d.i64()?;
        self.ref_notional = d.i128()?;
        self.slippage = d.i128()?;
        self.matched_notional = d.i128()?;
        self.fees = d.i128()?;
        self.available = d.bool()?;
        self.orders = d.u64()?;
        self.fills = d.u64()?;
        self.refused = d.count()?;
        let nv = d.len(64, "hedge venues")?;
        if nv != self.venues.len() {
            return Err(mismatch(format!("composite {id}: {nv} hedge venues, this core has {}", self.venues.len())));
        }
        for v in &mut self.venues {
            v.load(d)?;
        }
        let has = d.bool()?;
        if has != self.internal.is_some() {
            return Err(mismatch(format!("composite {id}: internal crossing book {has}, this core's {}", self.internal.is_some())));
        }
        if let Some(i) = self.internal.as_mut() {
            i.load(d)?;
        }
        Ok(())
    }
}

/// Per composite hedging, then the OMS of hedge orders (its own encoding, `rfq_oms::Oms::encode`,
/// as a length-prefixed section). Refused and duplicate inputs are counters.
impl Persist for Hedging {
    fn save<O: Out>(&self, o: &mut O) {
        let Hedging { states, by_ci: _, oms, last_cl_ord_id, reports, duplicates, refused_inputs, events: _, recon: _, desk_moves: _ } = self;
        o.len(states.len());
        for s in states {
            s.save(o);
        }
        o.u64(*last_cl_ord_id);
        o.u64(*reports);
        o.count(*duplicates);
        o.count(*refused_inputs);
        // the owners of applied exec ids go to snapshots, not to the hash (rfq_oms::Oms::encode_with)
        let mut bytes = Vec::new();
        oms.encode_with(&mut bytes, o.keeps_all());
        o.len(bytes.len());
        o.put(&bytes);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let n = d.len(1 << 16, "hedged composites")?;
        if n != self.states.len() {
            return Err(mismatch(format!("{n} hedged composites, this core has {}", self.states.len())));
        }
        for s in &mut self.states {
            s.load(d)?;
        }
        self.last_cl_ord_id = d.u64()?;
        self.reports = d.u64()?;
        self.duplicates = d.count()?;
        self.refused_inputs = d.count()?;
        let n = d.len(usize::MAX >> 1, "OMS bytes")?;
        let b = d.take(n)?;
        let (oms, used) = Oms::decode(b).map_err(corrupt)?;
        if used != n {
            return Err(corrupt("OMS section longer than its orders"));
        }
        self.oms = oms;
        Ok(())
    }
}
