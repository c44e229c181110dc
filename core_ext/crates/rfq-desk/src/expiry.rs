//! Time-driven work before each record: quote expiries and approval timeouts in deadline
//! order, kill-switch cancellation scans, and the end of a quote (one `QUOTE_END` each).

use crate::{desk_delta, reduces};
use crate::Desk;
use rfq_kernel::Sink;
use crate::state::{QuoteState, KILL_SCAN_PER_RECORD};
use rfq_ring::record::{flags, kind, rfq_reject};
use rfq_ring::Record;

impl Desk {
    /// Time-driven work before a record, at most `budget` outputs: quote expiries and
    /// approval timeouts in deadline order, then a step of a kill-switch cancellation scan.
    pub fn housekeep(&mut self, trigger: &Record, budget: &mut usize, out: &mut impl Sink) {
        while *budget > 0 {
            let q = self.rfq.expiry.peek().filter(|e| e.0 <= self.now);
            let p = self.rfq.pending_heap.peek().filter(|e| e.0 <= self.now);
            match (q, p) {
                (Some(q), Some(p)) if (p.0, p.1) < (q.0, q.1) => self.time_out(p.2, trigger, out),
                (Some(q), _) => self.end_quote(q.2, QuoteState::Expired, 0, trigger, out),
                (None, Some(p)) => self.time_out(p.2, trigger, out),
                (None, None) => break,
            }
            *budget -= 1;
        }
        self.kill_scan_step(trigger, budget, out);
    }

    /// Continue a kill-switch cancellation scan: examine at most [`KILL_SCAN_PER_RECORD`]
    /// quote-table slots, cancel at most `budget` quotes.
    pub fn kill_scan_step(&mut self, trigger: &Record, budget: &mut usize, out: &mut impl Sink) {
        let Some((mut slot, mut left)) = self.rfq.kill_scan else { return };
        let mut examined = 0;
        while left > 0 && examined < KILL_SCAN_PER_RECORD && *budget > 0 {
            if self.rfq.quotes[slot].live() && self.kill_cancels(slot) {
                self.end_quote(slot, QuoteState::Cancelled, 0, trigger, out);
                *budget -= 1;
            }
            slot = (slot + 1) & self.rfq.qmask as usize;
            left -= 1;
            examined += 1;
        }
        self.rfq.kill_scan = (left > 0).then_some((slot, left));
    }

    /// A live quote covered by a kill switch with a side that would not reduce the desk position.
    pub(super) fn kill_cancels(&self, slot: usize) -> bool {
        let q = &self.rfq.quotes[slot];
        let (k, ci) = (q.client as usize, q.ci as usize);
        if !self.rfq.killed(k, ci) {
            return false;
        }
        let pos = self.rfq.inst[ci].desk.qty;
        (0..2).any(|s| q.sides[s].1 > 0 && !reduces(pos, desk_delta(s as u8, q.sides[s].1)))
    }

    /// End a live quote (expired, cancelled, filled or rejected at the hit): exactly one
    /// `QUOTE_END` per quote.
    pub(super) fn end_quote(&mut self, slot: usize, state: QuoteState, reason: i64, trigger: &Record, out: &mut impl Sink) {
        let rfq = &mut self.rfq;
        rfq.expiry.remove(slot);
        let q = &mut rfq.quotes[slot];
        debug_assert_eq!(q.state, QuoteState::Live);
        q.state = state;
        let q = *q;
        let c = &mut rfq.clients[q.client as usize];
        c.open_quotes -= 1;
        match state {
            QuoteState::Expired => rfq.stats.expiries += 1,
            QuoteState::Cancelled => rfq.stats.cancels += 1,
            QuoteState::Rejected => rfq.stats.hit_rejects += 1,
            _ => {}
        }
        out.emit(&Record {
            kind: kind::QUOTE_END,
            instrument: self.ids[q.ci as usize],
            side: reason as u8,
            flags: flags::END,
            source: c.spec.id,
            seq: q.id,
            ts_event: q.rfq_id as i64,
            ts_recv: self.now,
            price: 0,
            qty: 0,
            aux: state.code(),
            ts_send: trigger.ts_send,
        });
    }

    /// A pending approval timed out.
    pub(super) fn time_out(&mut self, slot: usize, trigger: &Record, out: &mut impl Sink) {
        let p = self.rfq.take_pending(slot);
        self.rfq.stats.timeouts += 1;
        self.rfq_reject_pending(&p, rfq_reject::APPROVAL_TIMEOUT, trigger, out);
    }
}
