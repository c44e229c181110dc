//! An RFQ: the request-level checks, then pricing and risk (see `evaluate.rs`), then a quote,
//! an approval request or a reject.

use super::Req;
use crate::Desk;
use rfq_kernel::views::DeskInputs;
use rfq_kernel::{echo, Sink};
use rfq_ring::record::{flags, kind, rfq_reject};
use rfq_ring::Record;

impl Desk {
    /// An RFQ: a quote, an approval request, or `RFQ_REJECT`.
    pub fn on_rfq(&mut self, m: &impl DeskInputs, r: &Record, out: &mut impl Sink) {
        self.rfq.stats.rfqs += 1;
        match self.rfq_request(r) {
            Err(reason) => self.rfq_reject(r, reason, out),
            Ok(req) => match self.evaluate(m, &req, 0, 0, true) {
                Err(reason) => self.rfq_reject(r, reason, out),
                Ok(ev) if ev.needs_approval => self.start_approval(&req, &ev, r, out),
                Ok(ev) => {
                    if let Err(reason) = self.make_quote(&req, &ev, r, out) {
                        self.rfq_reject(r, reason, out);
                    }
                }
            },
        }
    }

    /// The request-level checks of an RFQ, in the documented order.
    pub(super) fn rfq_request(&self, r: &Record) -> Result<Req, i64> {
        if r.flags & flags::END == 0 || r.seq == 0 {
            return Err(rfq_reject::MALFORMED);
        }
        let k = self.rfq.client_index(r.source).ok_or(rfq_reject::UNKNOWN_CLIENT)?;
        let c = &self.rfq.clients[k];
        if !c.spec.enabled {
            return Err(rfq_reject::NOT_AUTHORISED);
        }
        let ci = self.composite_index(r.instrument).ok_or(rfq_reject::UNKNOWN_INSTRUMENT)?;
        if self.rfq.inst[ci].restricted() {
            return Err(rfq_reject::RESTRICTED);
        }
        if self.rfq.dedup.contains(r.source, r.seq) {
            return Err(rfq_reject::DUPLICATE_ID);
        }
        if !matches!(r.side, 0 | 1 | 255) {
            return Err(rfq_reject::BAD_SIDE);
        }
        if r.qty <= 0 {
            return Err(rfq_reject::BAD_SIZE);
        }
        if r.price < 0 {
            return Err(rfq_reject::BAD_LIMIT);
        }
        let tier = self.rfq.tier_of(k);
        if r.aux < 0 || r.aux > tier.max_ttl_ns {
            return Err(rfq_reject::BAD_TTL);
        }
        Ok(Req {
            k,
            ci,
            side: r.side,
            amount: r.qty,
            in_quote: r.flags & flags::QTY_IN_QUOTE != 0,
            limit: r.price,
            ttl: if r.aux == 0 { tier.ttl_ns } else { r.aux },
            rfq_id: r.seq,
        })
    }

    /// `RFQ_REJECT` echoing the RFQ, with the reason.
    pub(super) fn rfq_reject(&mut self, r: &Record, reason: i64, out: &mut impl Sink) {
        self.rfq.count_reject(reason);
        let flags = flags::END | (r.flags & flags::QTY_IN_QUOTE);
        out.emit(&Record { flags, ..echo(r, kind::RFQ_REJECT, r.side, reason, self.now) });
    }
}
