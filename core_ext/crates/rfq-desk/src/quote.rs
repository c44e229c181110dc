//! A priced request becomes a quote: put in the quote table and published (`RFQ_QUOTE` per
//! side).

use super::evaluate::Eval;
use super::Req;
use crate::Desk;
use rfq_kernel::Sink;
use crate::state::{QuoteSlot, QuoteState};
use rfq_ring::record::{flags, kind, rfq_reject};
use rfq_ring::Record;

impl Desk {
    /// Put a quote in the table and publish it (`Err(OTHER)` if its slot is still live).
    pub(super) fn make_quote(&mut self, req: &Req, ev: &Eval, trigger: &Record, out: &mut impl Sink) -> Result<u64, i64> {
        let rfq = &mut self.rfq;
        let id = rfq.last_quote + 1;
        let slot = (id & rfq.qmask) as usize;
        if rfq.quotes[slot].live() {
            return Err(rfq_reject::OTHER);
        }
        let fresh = rfq.dedup.insert(rfq.clients[req.k].spec.id, req.rfq_id);
        let tier = rfq.tier_of(req.k);
        let (partial, fee) = (tier.allow_partial, tier.fee_cbps);
        let now = self.now;
        let c = &mut rfq.clients[req.k];
        if fresh {
            // at RFQ time (an approved RFQ has consumed its id and its token already)
            c.rfq_bucket.take(&c.spec.rfq_rate, now);
        }
        c.open_quotes += 1;
        let client_id = c.spec.id;
        let valid_until = now.saturating_add(req.ttl);
        rfq.last_quote = id;
        rfq.quotes[slot] = QuoteSlot {
            id,
            client: req.k as u16,
            ci: req.ci as u16,
            rfq_id: req.rfq_id,
            sides: ev.sides,
            created: now,
            valid_until,
            partial,
            fee_cbps: fee,
            state: QuoteState::Live,
        };
        rfq.expiry.push(slot, valid_until, id);
        rfq.stats.quotes += 1;
        let last = if ev.sides[1].1 > 0 { 1 } else { 0 };
        for s in 0..2 {
            let (price, qty) = ev.sides[s];
            if qty == 0 {
                continue;
            }
            out.emit(&Record {
                kind: kind::RFQ_QUOTE,
                instrument: self.ids[req.ci],
                side: s as u8,
                flags: if s == last { flags::END } else { 0 } | if partial { flags::PARTIAL_OK } else { 0 },
                source: client_id,
                seq: id,
                ts_event: valid_until,
                ts_recv: now,
                price,
                qty,
                aux: req.rfq_id as i64,
                ts_send: trigger.ts_send,
            });
        }
        Ok(id)
    }
}
