//! The RFQ workflow on the core thread (docs/rfq-protocol.md): RFQ, ACCEPT, CANCEL and CONTROL
//! records, expiries and approval timeouts, and the query API.
//!
//! ## Layout
//! `mod.rs` the dispatch of an RFQ-family record; `limits.rs` the risk predicates (kill
//! switches, position and credit limits); `expiry.rs` time-driven work (quote expiries,
//! approval timeouts, kill-switch scans) and the end of a quote; `request.rs` an RFQ's
//! request checks; `evaluate.rs` pricing and the risk checks of a request; `quote.rs` a quote
//! put in the table; `approval.rs` RFQs waiting for an operator; `accept.rs` and `fill.rs` a
//! client's hit and its execution; `cancel.rs` cancels; `control.rs` and `settings.rs` operator
//! commands; `market.rs` the composite market the desk prices from; `views.rs` the query API.

mod accept;
mod approval;
mod cancel;
mod control;
mod evaluate;
mod expiry;
mod fill;
mod limits;
mod market;
mod quote;
mod request;
mod settings;
mod views;

use crate::core::{Core, Sink};
use crate::rfq::RfqState;
use rfq_ring::record::{flags, kind};
use rfq_ring::Record;

/// A validated RFQ (or a pending one being approved).
#[derive(Debug, Clone, Copy)]
pub(super) struct Req {
    /// Client index.
    pub(super) k: usize,
    /// Composite index.
    pub(super) ci: usize,
    pub(super) side: u8,
    /// Base qty, or a quote-currency amount (`in_quote`).
    pub(super) amount: i64,
    pub(super) in_quote: bool,
    pub(super) limit: i64,
    pub(super) ttl: i64,
    pub(super) rfq_id: u64,
}

/// Signed change of the desk position when client side `side` trades `q`.
#[inline]
pub(super) fn desk_delta(side: u8, q: i64) -> i64 {
    if side == 0 {
        -q
    } else {
        q
    }
}

/// Risk-reducing: the absolute desk position goes down.
#[inline]
pub(super) fn reduces(pos: i64, dq: i64) -> bool {
    (i128::from(pos) + i128::from(dq)).abs() < i128::from(pos).abs()
}

/// Most records one RFQ-family input can cause besides the time-driven work: an accept's
/// EXEC, EXEC_FEES, QUOTE_END and two RISK_EVENTs.
pub const MAX_RFQ_OUT: usize = 5;

impl RfqState {
    /// Count a published reject reason.
    #[inline]
    pub(crate) fn count_reject(&mut self, reason: i64) {
        self.stats.rejects[(reason as usize).min(63)] += 1;
    }
}

impl Core {
    /// RFQ, ACCEPT, CANCEL or CONTROL: move the clock (END-flagged records only), do the
    /// time-driven work, then handle the record.
    pub(crate) fn rfq_record(&mut self, r: &Record, budget: &mut usize, out: &mut impl Sink) {
        let well_formed = r.flags & flags::END != 0;
        if well_formed {
            self.advance(r.ts_recv);
        }
        self.housekeep(r, budget, out);
        if well_formed && !self.hedging.states.is_empty() {
            self.hedge_timers(r, out);
        }
        match r.kind {
            kind::RFQ => self.on_rfq(r, out),
            kind::ACCEPT => self.on_accept(r, out),
            kind::CANCEL => self.on_cancel(r, out),
            kind::VENUE_REPORT => self.on_venue_report(r, out),
            kind::VENUE_STATUS => self.on_venue_status(r, out),
            kind::DESK_ORDER => self.on_desk_order(r, out),
            _ => {
                self.on_control(r, out);
                // a kill switch turned on starts cancelling in this very record
                self.kill_scan_step(r, budget, out);
            }
        }
    }

    /// Touch every page of the RFQ tables (the duplicate-id set, reserved for
    /// [`crate::DEDUP_RESERVE`] blocks of 64 ids, and the deadline heaps) once, so the first RFQs do not
    /// pay page faults (~1-2 µs each) on the hot path. Changes no state; takes tens of ms.
    /// [`crate::Runner::spawn`] calls it on the core thread before the first record; inline
    /// users may call it themselves. Nothing to do without clients.
    pub fn prefault(&mut self) {
        if !self.rfq.clients.is_empty() {
            self.rfq.prefault();
        }
    }
}
