//! The one encoding of the RFQ workflow's state (`rfq_kernel::codec::Persist`).

use crate::risk::{Bucket, ExecWindow, MAX_EXEC_COUNT};
use crate::state::*;
use crate::Desk;
use rfq_kernel::positions::Position;
use rfq_model::{ClientSpec, DeskSpec, InstrumentRisk, PricingV2, Throttle};
use rfq_kernel::codec::{corrupt, mismatch, Dec, Decode, Encode, Out, Persist, R};

impl QuoteState {
    /// The state of a `QUOTE_END.aux` code.
    pub(crate) fn of_code(c: u8) -> Option<QuoteState> {
        Some(match c {
            0 => QuoteState::Live,
            1 => QuoteState::Filled,
            2 => QuoteState::Rejected,
            3 => QuoteState::Expired,
            4 => QuoteState::Cancelled,
            _ => return None,
        })
    }
}

impl Persist for RfqStats {
    fn save<O: Out>(&self, o: &mut O) {
        let RfqStats { rfqs, quotes, fills, expiries, cancels, hit_rejects, approvals, approved, declined, timeouts, controls, risk_events, rejects } = self;
        for v in [rfqs, quotes, fills, expiries, cancels, hit_rejects, approvals, approved, declined, timeouts, controls, risk_events] {
            o.count(*v);
        }
        for &v in rejects {
            o.count(v);
        }
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let s = self;
        for v in [
            &mut s.rfqs,
            &mut s.quotes,
            &mut s.fills,
            &mut s.expiries,
            &mut s.cancels,
            &mut s.hit_rejects,
            &mut s.approvals,
            &mut s.approved,
            &mut s.declined,
            &mut s.timeouts,
            &mut s.controls,
            &mut s.risk_events,
        ] {
            *v = d.count()?;
        }
        for v in &mut s.rejects {
            *v = d.count()?;
        }
        Ok(())
    }
}

/// The client's live settings (its name comes from the configuration), then its state.
impl Persist for ClientState {
    fn save<O: Out>(&self, o: &mut O) {
        let ClientState { spec, killed, halted, open_quotes, rfq_bucket, accept_bucket, exec, positions, util } = self;
        let ClientSpec { id, name: _, tier, enabled, credit_limit, max_open_quotes, rfq_rate, accept_rate } = spec;
        o.u16(*id);
        o.u8(*tier);
        o.bool(*enabled);
        o.i64(*credit_limit);
        o.u32(*max_open_quotes);
        rfq_rate.encode(o);
        accept_rate.encode(o);
        o.bool(*killed);
        o.bool(*halted);
        o.u32(*open_quotes);
        rfq_bucket.encode(o);
        accept_bucket.encode(o);
        exec.encode(o);
        o.len(positions.len());
        for p in positions {
            p.encode(o);
        }
        o.i128(*util);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let id = d.u16()?;
        if id != self.spec.id {
            return Err(mismatch(format!("client {id}, this core's is {}", self.spec.id)));
        }
        self.spec.tier = d.u8()?;
        self.spec.enabled = d.bool()?;
        self.spec.credit_limit = d.i64()?;
        self.spec.max_open_quotes = d.u32()?;
        self.spec.rfq_rate = Throttle::decode(d)?;
        self.spec.accept_rate = Throttle::decode(d)?;
        self.killed = d.bool()?;
        self.halted = d.bool()?;
        self.open_quotes = d.u32()?;
        self.rfq_bucket = Bucket::decode(d)?;
        self.accept_bucket = Bucket::decode(d)?;
        self.exec = ExecWindow::decode(d)?;
        d.same_len(self.positions.len(), &format!("positions of client {id}"))?;
        for p in &mut self.positions {
            *p = Position::decode(d)?;
        }
        self.util = d.i128()?;
        Ok(())
    }
}

/// Risk limits, pricing v2 and switches of one composite; its scales come from the
/// configuration.
impl Persist for InstRfq {
    fn save<O: Out>(&self, o: &mut O) {
        let InstRfq { risk, pricing, killed, halted, desk, exec, vol_m, last_mid, cent: _, to_credit: _, unit: _ } = self;
        risk.encode(o);
        pricing.encode(o);
        o.bool(*killed);
        o.bool(*halted);
        desk.encode(o);
        exec.encode(o);
        o.i64(*vol_m);
        o.i64(*last_mid);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.risk = Option::<InstrumentRisk>::decode(d)?;
        self.pricing = PricingV2::decode(d)?;
        self.killed = d.bool()?;
        self.halted = d.bool()?;
        self.desk = Position::decode(d)?;
        self.exec = ExecWindow::decode(d)?;
        self.vol_m = d.i64()?;
        self.last_mid = d.i64()?;
        Ok(())
    }
}

impl Encode for QuoteSlot {
    fn encode<O: Out>(&self, o: &mut O) {
        let QuoteSlot { id, client, ci, rfq_id, sides, created, valid_until, partial, fee_cbps, state } = *self;
        o.u64(id);
        o.u16(client);
        o.u16(ci);
        o.u64(rfq_id);
        for (p, x) in sides {
            o.i64(p);
            o.i64(x);
        }
        o.i64(created);
        o.i64(valid_until);
        o.bool(partial);
        o.i64(fee_cbps);
        o.u8(state.code() as u8);
    }
}

impl Decode for QuoteSlot {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(QuoteSlot {
            id: d.u64()?,
            client: d.u16()?,
            ci: d.u16()?,
            rfq_id: d.u64()?,
            sides: [(d.i64()?, d.i64()?), (d.i64()?, d.i64()?)],
            created: d.i64()?,
            valid_until: d.i64()?,
            partial: d.bool()?,
            fee_cbps: d.i64()?,
            state: QuoteState::of_code(d.u8()?).ok_or_else(|| corrupt("quote state"))?,
        })
    }
}

impl Encode for PendingSlot {
    fn encode<O: Out>(&self, o: &mut O) {
        let PendingSlot { id, client, ci, side, qty, in_quote, limit, ttl, rfq_id, indicative, deadline } = *self;
        o.u64(id);
        o.u16(client);
        o.u16(ci);
        o.u8(side);
        o.i64(qty);
        o.bool(in_quote);
        o.i64(limit);
        o.i64(ttl);
        o.u64(rfq_id);
        o.i64(indicative);
        o.i64(deadline);
    }
}

impl Decode for PendingSlot {
    fn decode(d: &mut Dec<'_>) -> R<Self> {
        Ok(PendingSlot {
            id: d.u64()?,
            client: d.u16()?,
            ci: d.u16()?,
            side: d.u8()?,
            qty: d.i64()?,
            in_quote: d.bool()?,
            limit: d.i64()?,
            ttl: d.i64()?,
            rfq_id: d.u64()?,
            indicative: d.i64()?,
            deadline: d.i64()?,
        })
    }
}

/// A list whose length the configuration fixes: the count, then each entry.
fn save_list<O: Out, T: Persist>(o: &mut O, list: &[T]) {
    o.len(list.len());
    for e in list {
        e.save(o);
    }
}

/// Used slots of a fixed table as `(slot, entry)`; free slots (`id == 0`) are not written.
fn save_table<O: Out, T: Encode>(o: &mut O, table: &[T], used: impl Fn(&T) -> bool) {
    o.len(table.iter().filter(|e| used(e)).count());
    for (slot, e) in table.iter().enumerate().filter(|(_, e)| used(e)) {
        o.u32(slot as u32);
        e.encode(o);
    }
}

/// The RFQ workflow: desk settings and switches, tiers, clients, per-composite settings, the
/// quote table, both deadline heaps in heap order, pending approvals and their free list, the
/// duplicate-id table, the kill-switch scan, counters. Lookup tables (`tier_by_id`,
/// `client_by_id`), table masks and the credit scale come from the configuration.
impl Persist for RfqState {
    fn save<O: Out>(&self, o: &mut O) {
        let RfqState {
            tiers,
            tier_by_id: _,
            clients,
            client_by_id: _,
            inst,
            desk,
            desk_killed,
            quotes,
            qmask: _,
            last_quote,
            expiry,
            pending,
            pending_heap,
            free_pending,
            pending_count,
            last_request,
            last_trade,
            dedup,
            kill_scan,
            stats,
            credit_cent: _,
        } = self;
        let DeskSpec { exec_count, exec_window_ns, quote_table, max_pending } = *desk;
        o.u32(exec_count);
        o.i64(exec_window_ns);
        o.len(quote_table);
        o.len(max_pending);
        o.bool(*desk_killed);
        save_list(o, tiers);
        save_list(o, clients);
        save_list(o, inst);
        o.u64(*last_quote);
        o.u64(*last_request);
        o.u64(*last_trade);
        save_table(o, quotes, |q| q.id != 0);
        expiry.save(o);
        pending_heap.save(o);
        save_table(o, pending, |p| p.id != 0);
        o.len(free_pending.len());
        for &s in free_pending {
            o.u32(s);
        }
        o.len(*pending_count);
        dedup.save(o);
        let (a, b) = kill_scan.unwrap_or((0, 0));
        o.bool(kill_scan.is_some());
        o.len(a);
        o.len(b);
        stats.save(o);
    }

    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        let r = self;
        r.desk.exec_count = d.u32()?;
        if r.desk.exec_count as usize > MAX_EXEC_COUNT {
            return Err(corrupt("exec_count"));
        }
        r.desk.exec_window_ns = d.i64()?;
        let (qt, mp) = (d.u64()?, d.u64()?);
        if qt != r.desk.quote_table as u64 || mp != r.desk.max_pending as u64 {
            return Err(mismatch(format!("quote table {qt} / max pending {mp}, this core's {} / {}", r.desk.quote_table, r.desk.max_pending)));
        }
        r.desk_killed = d.bool()?;
        d.same_len(r.tiers.len(), "tiers")?;
        for t in &mut r.tiers {
            t.load(d)?;
        }
        d.same_len(r.clients.len(), "clients")?;
        for k in 0..r.clients.len() {
            r.clients[k].load(d)?;
            let (id, tier) = (r.clients[k].spec.id, r.clients[k].spec.tier);
            if r.tier_index(tier).is_none() {
                return Err(corrupt(format!("client {id}: unknown tier {tier}")));
            }
        }
        d.same_len(r.inst.len(), "RFQ composites")?;
        for i in &mut r.inst {
            i.load(d)?;
        }
        r.last_quote = d.u64()?;
        r.last_request = d.u64()?;
        r.last_trade = d.u64()?;
        let (nclients, ncomp, qt) = (r.clients.len(), r.inst.len(), r.quotes.len());
        r.quotes.iter_mut().for_each(|q| *q = QuoteSlot::EMPTY);
        for _ in 0..d.len(qt, "quotes")? {
            let slot = d.u32()? as usize;
            let q = QuoteSlot::decode(d)?;
            if slot >= qt || q.id == 0 || (q.id & r.qmask) as usize != slot || q.client as usize >= nclients || q.ci as usize >= ncomp {
                return Err(corrupt(format!("quote {} in slot {slot}", q.id)));
            }
            r.quotes[slot] = q;
        }
        Persist::load(&mut r.expiry, d)?;
        Persist::load(&mut r.pending_heap, d)?;
        let mp = r.pending.len();
        r.pending.iter_mut().for_each(|p| *p = PendingSlot::EMPTY);
        for _ in 0..d.len(mp, "pending approvals")? {
            let slot = d.u32()? as usize;
            let p = PendingSlot::decode(d)?;
            if slot >= mp || p.id == 0 || p.client as usize >= nclients || p.ci as usize >= ncomp {
                return Err(corrupt(format!("pending request {} in slot {slot}", p.id)));
            }
            r.pending[slot] = p;
        }
        let n = d.len(mp, "free pending slots")?;
        r.free_pending.clear();
        for _ in 0..n {
            let s = d.u32()?;
            if s as usize >= mp {
                return Err(corrupt("free pending slot out of range"));
            }
            r.free_pending.push(s);
        }
        r.pending_count = d.len(mp, "pending count")?;
        Persist::load(&mut r.dedup, d)?;
        let scan = d.bool()?;
        let (a, b) = (d.u64()?, d.u64()?);
        r.kill_scan = scan.then_some((a as usize, b as usize));
        if scan && a as usize >= qt.max(1) {
            return Err(corrupt("kill scan position"));
        }
        r.stats.load(d)
    }
}

/// The desk as the core's snapshot holds it (after the market): the RFQ workflow state.
impl Persist for Desk {
    fn save<O: Out>(&self, o: &mut O) {
        let Desk { rfq, ids: _, now: _ } = self;
        rfq.save(o);
    }
    fn load(&mut self, d: &mut Dec<'_>) -> R<()> {
        self.rfq.load(d)
    }
}

impl Desk {
    /// About how many bytes the desk takes in a snapshot (a buffer size hint).
    pub fn snapshot_size_hint(&self) -> usize {
        let rfq = &self.rfq;
        rfq.clients.len() * 700 + rfq.expiry.len() * 110 + rfq.dedup.len() / 4 * 30
    }
}
