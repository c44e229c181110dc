//! RFQs above an approval threshold wait for an operator: the pending request, its timeout,
//! APPROVE (priced again with the operator's adjustment or override) and DECLINE.

use super::evaluate::Eval;
use super::Req;
use crate::Desk;
use rfq_kernel::views::DeskInputs;
use rfq_kernel::Sink;
use rfq_kernel::pricing::PPM;
use crate::state::{PendingSlot, RfqState};
use rfq_ring::record::{flags, kind, rfq_reject};
use rfq_ring::Record;

impl RfqState {
    /// Remove a pending approval, returning it.
    pub(crate) fn take_pending(&mut self, slot: usize) -> PendingSlot {
        let p = std::mem::replace(&mut self.pending[slot], PendingSlot::EMPTY);
        self.pending_heap.remove(slot);
        self.pending_count -= 1;
        self.free_pending.push(slot as u32);
        p
    }
}

impl Desk {
    /// The RFQ waits for an operator: a pending request (its id consumed, a throttle token
    /// taken) and `APPROVAL_PENDING` with the indicative price.
    pub(super) fn start_approval(&mut self, req: &Req, ev: &Eval, r: &Record, out: &mut impl Sink) {
        let now = self.now;
        let rfq = &mut self.rfq;
        let Some(slot) = rfq.free_pending.pop() else {
            return self.rfq_reject(r, rfq_reject::OTHER, out);
        };
        let slot = slot as usize;
        let timeout = rfq.inst[req.ci].risk.as_ref().map_or(1, |x| x.approval_timeout_ns);
        rfq.last_request += 1;
        let id = rfq.last_request;
        let indicative = if ev.sides[0].1 > 0 { ev.sides[0].0 } else { ev.sides[1].0 };
        let deadline = now.saturating_add(timeout);
        rfq.pending[slot] = PendingSlot {
            id,
            client: req.k as u16,
            ci: req.ci as u16,
            side: req.side,
            qty: req.amount,
            in_quote: req.in_quote,
            limit: req.limit,
            ttl: req.ttl,
            rfq_id: req.rfq_id,
            indicative,
            deadline,
        };
        rfq.pending_count += 1;
        rfq.pending_heap.push(slot, deadline, id);
        rfq.dedup.insert(r.source, r.seq);
        let c = &mut rfq.clients[req.k];
        c.rfq_bucket.take(&c.spec.rfq_rate, now);
        rfq.stats.approvals += 1;
        out.emit(&Record {
            kind: kind::APPROVAL_PENDING,
            instrument: r.instrument,
            side: r.side,
            flags: flags::END | (r.flags & flags::QTY_IN_QUOTE),
            source: r.source,
            seq: r.seq,
            ts_event: deadline,
            ts_recv: now,
            price: indicative,
            qty: r.qty,
            aux: id as i64,
            ts_send: r.ts_send,
        });
    }

    /// APPROVE: re-run pricing and every risk check (not the threshold) with the operator's
    /// adjustment or override, then quote or reject. `Ok(quote id or 0)`.
    pub(super) fn approve(&mut self, m: &impl DeskInputs, r: &Record, out: &mut impl Sink) -> Result<i64, i64> {
        let slot = u64::try_from(r.price).ok().and_then(|id| self.rfq.pending_slot(id)).ok_or(rfq_reject::UNKNOWN_REQUEST)?;
        let p = self.rfq.pending[slot];
        if r.qty < 0 || (r.qty > 0 && p.side == 255) || r.aux.unsigned_abs() >= PPM as u64 {
            return Err(rfq_reject::BAD_COMMAND);
        }
        let p = self.rfq.take_pending(slot);
        self.rfq.stats.approved += 1;
        let req = Req { k: p.client as usize, ci: p.ci as usize, side: p.side, amount: p.qty, in_quote: p.in_quote, limit: p.limit, ttl: p.ttl, rfq_id: p.rfq_id };
        let res = if !self.rfq.clients[req.k].spec.enabled {
            Err(rfq_reject::NOT_AUTHORISED)
        } else if self.rfq.inst[req.ci].restricted() {
            Err(rfq_reject::RESTRICTED)
        } else {
            self.evaluate(m, &req, r.aux, r.qty, false).and_then(|ev| self.make_quote(&req, &ev, r, out))
        };
        match res {
            Ok(id) => Ok(id as i64),
            Err(reason) => {
                self.rfq_reject_pending(&p, reason, r, out);
                Ok(0)
            }
        }
    }

    /// `RFQ_REJECT` of a pending request (declined, timed out, or refused when approved).
    pub(super) fn rfq_reject_pending(&mut self, p: &PendingSlot, reason: i64, trigger: &Record, out: &mut impl Sink) {
        self.rfq.count_reject(reason);
        out.emit(&Record {
            kind: kind::RFQ_REJECT,
            instrument: self.ids[p.ci as usize],
            side: p.side,
            flags: flags::END | if p.in_quote { flags::QTY_IN_QUOTE } else { 0 },
            source: self.rfq.clients[p.client as usize].spec.id,
            seq: p.rfq_id,
            ts_event: 0,
            ts_recv: self.now,
            price: p.limit,
            qty: p.qty,
            aux: reason,
            ts_send: trigger.ts_send,
        });
    }

    /// DECLINE: the operator refuses a pending RFQ (`RFQ_REJECT` to the client). `Ok(0)`.
    pub(super) fn decline(&mut self, r: &Record, out: &mut impl Sink) -> Result<i64, i64> {
        let slot = u64::try_from(r.price).ok().and_then(|id| self.rfq.pending_slot(id)).ok_or(rfq_reject::UNKNOWN_REQUEST)?;
        let p = self.rfq.take_pending(slot);
        self.rfq.stats.declined += 1;
        self.rfq_reject_pending(&p, rfq_reject::APPROVAL_DECLINED, r, out);
        Ok(0)
    }
}
