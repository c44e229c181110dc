//! An ACCEPT: validation against the quote, the risk checks at the moment of the hit, then the
//! fill (see `fill.rs`) or a reject.

use crate::{desk_delta, reduces};
use crate::{ClientFill, Desk};
use rfq_kernel::views::DeskInputs;
use rfq_kernel::Sink;
use rfq_kernel::pricing::PPM;
use crate::state::QuoteState;
use rfq_ring::record::{flags, kind, rfq_reject};
use rfq_ring::Record;

impl Desk {
    /// Validation of an accept (no state change on failure): `(slot, side, qty)`.
    pub(super) fn accept_checks(&self, r: &Record) -> Result<(usize, usize, i64), i64> {
        if r.flags & flags::END == 0 || r.seq == 0 {
            return Err(rfq_reject::MALFORMED);
        }
        let k = self.rfq.client_index(r.source).ok_or(rfq_reject::UNKNOWN_CLIENT)?;
        let slot = self.rfq.quote_slot(r.seq).ok_or(rfq_reject::UNKNOWN_QUOTE)?;
        let q = &self.rfq.quotes[slot];
        // another client's quote is answered exactly as an id that does not exist: a client
        // must not learn which ids are other clients' quotes (docs/rfq-protocol.md)
        if q.client as usize != k || self.ids[q.ci as usize] != r.instrument {
            return Err(rfq_reject::UNKNOWN_QUOTE);
        }
        if !self.rfq.clients[k].spec.enabled {
            return Err(rfq_reject::NOT_AUTHORISED);
        }
        if q.state == QuoteState::Expired || r.ts_recv >= q.valid_until {
            return Err(rfq_reject::TOO_LATE);
        }
        if q.state != QuoteState::Live {
            return Err(rfq_reject::QUOTE_NOT_LIVE);
        }
        let s = match r.side {
            0 | 1 if q.sides[r.side as usize].1 > 0 => r.side as usize,
            _ => return Err(rfq_reject::BAD_SIDE),
        };
        let (price, qty) = q.sides[s];
        if r.price != price {
            return Err(rfq_reject::PRICE_MISMATCH);
        }
        let size_ok = if q.partial { r.qty > 0 && r.qty <= qty } else { r.qty == qty };
        if !size_ok {
            return Err(rfq_reject::SIZE_MISMATCH);
        }
        Ok((slot, s, r.qty))
    }

    /// Risk at the moment of the hit, against current state.
    pub(super) fn hit_checks(&self, m: &impl DeskInputs, slot: usize, s: usize, q: i64) -> Result<(), i64> {
        let rfq = &self.rfq;
        let quote = &rfq.quotes[slot];
        let (k, ci) = (quote.client as usize, quote.ci as usize);
        let client = &rfq.clients[k];
        let st = &rfq.inst[ci];
        let dq = desk_delta(s as u8, q);
        if rfq.killed(k, ci) && !reduces(st.desk.qty, dq) {
            return Err(rfq_reject::KILL_SWITCH);
        }
        if client.halted || st.halted {
            return Err(rfq_reject::HALTED);
        }
        if !reduces(st.desk.qty, dq) && !m.hedge_ok(ci) {
            return Err(rfq_reject::HEDGE_UNAVAILABLE);
        }
        if !client.accept_bucket.allows(&client.spec.accept_rate, self.now) {
            return Err(rfq_reject::THROTTLED);
        }
        let price = quote.sides[s].0;
        if !rfq.position_ok(ci, dq) {
            return Err(rfq_reject::POSITION_LIMIT);
        }
        if !rfq.credit_ok(k, ci, -dq, price) {
            return Err(rfq_reject::INSUFFICIENT_CREDIT);
        }
        // the collar against the mid now; without a usable two-sided market it cannot be checked
        let risk = st.risk.as_ref().ok_or(rfq_reject::RESTRICTED)?;
        let mid = m.mid(ci).ok_or(rfq_reject::NO_MARKET)?;
        if (i128::from(price) - i128::from(mid)).abs() * PPM > i128::from(risk.collar_cbps) * i128::from(mid) {
            return Err(rfq_reject::PRICE_COLLAR);
        }
        Ok(())
    }

    /// An ACCEPT: checked against its quote, then against risk at the moment of the hit.
    /// A fill is returned for hedging and [`Desk::finish_fill`].
    pub fn on_accept(&mut self, m: &impl DeskInputs, r: &Record, out: &mut impl Sink) -> Option<ClientFill> {
        let (slot, s, q) = match self.accept_checks(r) {
            Ok(x) => x,
            Err(reason) => {
                self.accept_reject(r, reason, out);
                return None;
            }
        };
        if let Err(reason) = self.hit_checks(m, slot, s, q) {
            // the documented exception: the quote ends `rejected`
            self.accept_reject(r, reason, out);
            self.end_quote(slot, QuoteState::Rejected, reason, r, out);
            return None;
        }
        Some(self.fill(slot, s, q, r, out))
    }

    /// `ACCEPT_REJECT` echoing the accept, with the reason.
    pub(super) fn accept_reject(&mut self, r: &Record, reason: i64, out: &mut impl Sink) {
        self.rfq.count_reject(reason);
        out.emit(&Record {
            kind: kind::ACCEPT_REJECT,
            instrument: r.instrument,
            side: r.side,
            flags: flags::END,
            source: r.source,
            seq: r.seq,
            ts_event: r.aux,
            ts_recv: self.now,
            price: r.price,
            qty: r.qty,
            aux: reason,
            ts_send: r.ts_send,
        });
    }
}
