//! A CANCEL of a live quote by its client (or by the desk, through CONTROL).

use crate::Desk;
use rfq_kernel::{echo, Sink};
use crate::state::QuoteState;
use rfq_ring::record::{flags, kind, rfq_reject};
use rfq_ring::Record;

impl Desk {
    /// A cancel by a client (`client` = its id) or the desk (0): `Ok(slot)` of a live quote.
    /// Another client's quote is `UNKNOWN_QUOTE`, as an id that does not exist (no oracle).
    pub(super) fn cancel_checks(&self, client: u16, quote_id: u64) -> Result<usize, i64> {
        let k = if client == 0 { None } else { Some(self.rfq.client_index(client).ok_or(rfq_reject::UNKNOWN_CLIENT)?) };
        let slot = self.rfq.quote_slot(quote_id).ok_or(rfq_reject::UNKNOWN_QUOTE)?;
        let q = &self.rfq.quotes[slot];
        if k.is_some_and(|k| k != q.client as usize) {
            return Err(rfq_reject::UNKNOWN_QUOTE);
        }
        if q.state != QuoteState::Live {
            return Err(rfq_reject::QUOTE_NOT_LIVE);
        }
        Ok(slot)
    }

    /// A client's CANCEL: the quote ends `cancelled`, or `CANCEL_REJECT` with the reason.
    pub fn on_cancel(&mut self, r: &Record, out: &mut impl Sink) {
        let res = if r.flags & flags::END == 0 || r.seq == 0 { Err(rfq_reject::MALFORMED) } else { self.cancel_checks(r.source, r.seq) };
        match res {
            Ok(slot) => self.end_quote(slot, QuoteState::Cancelled, 0, r, out),
            Err(reason) => {
                self.rfq.count_reject(reason);
                out.emit(&echo(r, kind::CANCEL_REJECT, r.side, reason, self.now));
            }
        }
    }

    /// CANCEL_QUOTE: the desk cancels a live quote (`price` = quote id). `Ok(0)`.
    pub(super) fn control_cancel_quote(&mut self, r: &Record, out: &mut impl Sink) -> Result<i64, i64> {
        let id = u64::try_from(r.price).map_err(|_| rfq_reject::UNKNOWN_QUOTE)?;
        let slot = self.cancel_checks(0, id)?;
        self.end_quote(slot, QuoteState::Cancelled, 0, r, out);
        Ok(0)
    }
}
