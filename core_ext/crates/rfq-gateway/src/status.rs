//! What the gateway knows of each quote, for `QUOTE_STATUS` (docs/gateway-schema.md): built only
//! from the core's answers read off the tap (`RFQ_QUOTE`, `EXEC`/`EXEC_FEES`, `QUOTE_END`), so
//! it is what the core said, in the order it said it; nothing here reaches the core.
//!
//! The core owns quote state, but its quote table reuses slots (an ended quote is gone) and a
//! query pushed through the ring would be one more journaled input; the gateway sees every
//! answer of the core on its tap anyway. What this cannot know: a request still in the ring or
//! in the core when the query arrives (its answer comes after the report, on the same stream);
//! a quote past `valid_until` that the core has not ended yet (it ends expired quotes at its
//! next input) is still `LIVE`; and quotes from before the gateway started, except those that
//! ended after it started and the fills of the settlement store it was given
//! ([`crate::Settings::executions`]). It keeps every live quote and the newest
//! [`QUOTE_STATUS_LIMIT`] ended ones.

use std::collections::VecDeque;

use rfq_ring::record::rfq_reject;
use rustc_hash::FxHashMap;

use crate::wire::{msg, quote_status, role, Frame};

/// Ended quotes whose status the gateway keeps (the newest; live quotes are always kept).
pub const QUOTE_STATUS_LIMIT: usize = 1 << 18;

/// One quote as the core last described it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct QuoteInfo {
    client: u16,
    inst: u16,
    status: u8,
    reason: u8,
    side: u8,
    rfq_id: u64,
    valid_until: i64,
    trade: u64,
    price: i64,
    qty: i64,
    core_time: i64,
}

impl QuoteInfo {
    /// A quote the core has neither filled nor ended yet.
    fn live(client: u16, rfq_id: u64, inst: u16, valid_until: i64, core_time: i64) -> QuoteInfo {
        QuoteInfo {
            client,
            inst,
            status: quote_status::LIVE,
            reason: 0,
            side: 0,
            rfq_id,
            valid_until,
            trade: 0,
            price: 0,
            qty: 0,
            core_time,
        }
    }
}

/// Every quote's status by quote id (ids are the core's, unique across clients).
///
/// Hashed with rustc-hash's Fx hash (a multiply): the keys inserted are the core's own quote
/// ids, never a value a peer chose (a peer's `QUOTE_STATUS` only looks up), so there is no
/// flooding to defend against; SipHash cost ~3x per quote on this path.
pub struct QuoteBook {
    quotes: FxHashMap<u64, QuoteInfo>,
    /// ended quote ids, oldest first (the ones dropped beyond [`QUOTE_STATUS_LIMIT`])
    ended: VecDeque<u64>,
}

impl Default for QuoteBook {
    fn default() -> Self {
        Self::new()
    }
}

impl QuoteBook {
    /// An empty book, with room for the limit reserved (nothing allocated per quote after).
    #[must_use]
    pub fn new() -> Self {
        QuoteBook {
            quotes: FxHashMap::with_capacity_and_hasher(QUOTE_STATUS_LIMIT + (1 << 14), Default::default()),
            ended: VecDeque::with_capacity(QUOTE_STATUS_LIMIT + 1),
        }
    }

    /// A firm quote was sent to `client` (the whole `QUOTE`): live until the core ends it.
    pub fn quoted(&mut self, client: u16, quote_id: u64, rfq_id: u64, inst: u16, valid_until: i64, core_time: i64) {
        self.quotes.insert(quote_id, QuoteInfo::live(client, rfq_id, inst, valid_until, core_time));
    }

    /// An execution of `client` on `quote_id` (the `QUOTE_END` that follows ends the quote).
    pub fn executed(&mut self, client: u16, quote_id: u64, trade: u64, side: u8, price: i64, qty: i64) {
        if let Some(q) = self.quotes.get_mut(&quote_id).filter(|q| q.client == client) {
            (q.trade, q.side, q.price, q.qty) = (trade, side, price, qty);
        }
    }

    /// The core ended `quote_id` (`QUOTE_END`: `state` 1-4, `reason` when rejected).
    #[allow(clippy::too_many_arguments, reason = "the QUOTE_END record's fields, one by one")]
    pub fn ended(&mut self, client: u16, quote_id: u64, rfq_id: u64, inst: u16, state: u8, reason: u8, core_time: i64) {
        // quoted before this gateway started: what the end says
        let q = self.quotes.entry(quote_id).or_insert(QuoteInfo::live(client, rfq_id, inst, 0, core_time));
        if q.client != client {
            return; // not the same quote (a core restarted without its journal numbers again)
        }
        (q.status, q.reason, q.core_time) = (state, reason, core_time);
        self.ended.push_back(quote_id);
        if self.ended.len() > QUOTE_STATUS_LIMIT {
            if let Some(old) = self.ended.pop_front() {
                if self.quotes.get(&old).is_some_and(|q| q.status != quote_status::LIVE) {
                    self.quotes.remove(&old);
                }
            }
        }
    }

    /// A fill from before this gateway started (the settlement store's): trade, quote, rfq,
    /// accept, instrument, side, price, qty, notional, fee, core time.
    pub fn filled_before(&mut self, client: u16, e: &[i64; 11]) {
        let quote_id = e[1] as u64;
        self.ended(client, quote_id, e[2] as u64, e[4] as u16, quote_status::FILLED, 0, e[10]);
        self.executed(client, quote_id, e[0] as u64, e[5] as u8, e[6], e[7]);
    }

    /// The `QUOTE_STATUS_REPORT` answering `client`'s question about `quote_id`: another
    /// client's quote gets exactly the bytes of an id nobody has (`UNKNOWN_QUOTE`).
    #[must_use]
    pub fn report(&self, client: u16, quote_id: u64) -> Frame {
        let mut f = Frame::new(msg::QUOTE_STATUS_REPORT, 0, 0, client, role::CLIENT);
        f.u64(0, quote_id);
        match self.quotes.get(&quote_id).filter(|q| q.client == client) {
            Some(q) => {
                f.u64(8, q.rfq_id).u16(16, q.inst).u8(18, q.status).u8(19, q.reason).u8(20, q.side)
                    .i64(24, q.valid_until).u64(32, q.trade).i64(40, q.price).i64(48, q.qty).i64(56, q.core_time);
            }
            None => {
                f.u8(18, quote_status::UNKNOWN_QUOTE).u8(19, rfq_reject::UNKNOWN_QUOTE as u8);
            }
        }
        f
    }

    /// Quotes kept now (live and ended).
    #[must_use]
    pub fn len(&self) -> usize {
        self.quotes.len()
    }

    /// True when no quote is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.quotes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{i64_at, u64_at, HEADER_SIZE};

    #[test]
    fn ended_quotes_beyond_the_limit_are_dropped_oldest_first_live_ones_never() {
        let mut b = QuoteBook::new();
        b.quoted(1, 0, 1, 3, 10, 5); // stays live throughout
        for q in 1..=(QUOTE_STATUS_LIMIT as u64 + 2) {
            b.quoted(1, q, q, 3, 10, 5);
            b.ended(1, q, q, 3, quote_status::EXPIRED, 0, 6);
        }
        assert_eq!(b.len(), QUOTE_STATUS_LIMIT + 1);
        for gone in [1u64, 2] {
            assert_eq!(b.report(1, gone).as_bytes()[HEADER_SIZE + 18], quote_status::UNKNOWN_QUOTE);
        }
        assert_eq!(b.report(1, 3).as_bytes()[HEADER_SIZE + 18], quote_status::EXPIRED);
        let live = b.report(1, 0);
        assert_eq!(live.as_bytes()[HEADER_SIZE + 18], quote_status::LIVE);
        assert_eq!((u64_at(live.as_bytes(), HEADER_SIZE + 8), i64_at(live.as_bytes(), HEADER_SIZE + 24)), (1, 10));
    }
}
